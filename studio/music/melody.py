"""mini-melody at run time: load the model folder, sample a melody for a job, and show the next-note distribution.

Sampling is the studio's own decode loop, as studio.text.engine.decode: forward passes with a KV cache, the
last logits through the text tab's logits processors (studio.text.engine.logits_processors: temperature, top-k,
top-p, in generate()'s order), then argmax (temperature 0) or one draw from the job's own torch.Generator, so the
same seed and settings give the same notes whatever other jobs run in between. Before the knobs act, tokens the
tune's grammar forbids at that point are masked (a duration must follow a pitch; the right bar token opens the
next bar; <eos> only ends the last bar), and where a bar may end, the one boundary token allowed takes the
probability of them all (_Grammar.mask): a piece has exactly the requested bars, and the next-note view applies
the same mask, so its bars are what sampling draws from.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import torch

from studio.core.calls import check_stop
from studio.core.errors import StudioError
from studio.core.specs import ModelSpec
from studio.music import labels as L
from studio.music import vocab
from studio.music.notes import Note, meter_quarters
from studio.text.engine import logits_processors, processor_stages
from studio.text.sampling import Sampling


LABELS_FILE = "labels.json"
MAX_BARS = 32  # about what fits the 512-token context in 2/4


@dataclass
class MelodyModel:
    """The melody GPT-2, its tokenizer and the label values it knows (its labels.json)."""
    model: torch.nn.Module
    tokenizer: object
    labels: dict[str, list[str]]

    def modules(self):
        return [self.model]

    def to(self, device):
        self.model.to(device)
        return self


def load_melody(spec: ModelSpec, device: str) -> MelodyModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(spec.path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch.float32, local_files_only=True,
                                                 use_safetensors=True)
    labels = json.loads((spec.path / LABELS_FILE).read_text(encoding="utf-8"))
    return MelodyModel(model.to(device).eval(), tokenizer, labels)


@dataclass
class MelodyJob:
    meter: str | None  # None / "any" / "不限": left open
    mode: str | None  # "yu" or "羽"
    region: str | None  # "Shaanxi" or "陕西"
    genre: str | None  # "Xiaodiao" or "小调"
    bars: int
    sampling: Sampling
    seed: int
    # The grammar keeps the form asked for: every bar in a named meter, and the last note on a named mode's final
    # (the course: 调式 decides where the melody comes to rest). False: the model alone (only the bar count kept).
    strict_form: bool = True
    # Classifier-free guidance over the labels, as CFG over the prompt in 文生图: each token is drawn from
    # any + guidance x (labelled - any), where "any" is the same piece with every label open. 1: the labelled
    # logits alone; above 1 the labels (region and genre, which the model learnt only faintly, most of all) act
    # more strongly. Nothing named: no effect.
    guidance: float = 1.0


@dataclass
class Melody:
    notes: list[Note]  # gong = C
    tokens: list[str]  # the whole sequence, prefix included
    labels: dict[str, str]  # the job's labels as the model knows them ("any" for open ones)
    bars: int  # requested
    complete: bool  # ended with <eos> (False: the context ran out first)
    pitch_positions: list[int] = field(default_factory=list)  # index in tokens of each note's pitch token
    final: str | None = None  # the mode the last sounding note names under gong = C ("yu", ...), else None

    @property
    def meter(self) -> str | None:
        return None if self.labels["meter"] == vocab.ANY else self.labels["meter"]


def _choices(field_name: str, known: list[str]) -> str:
    names = L.NAMES.get(field_name, {})
    shown = [f"{names[v]['zh']}/{v}" if v in names and names[v]["zh"] != v else v for v in known]
    return ", ".join(shown + [f"{L.ANY_NAMES['zh']}/{vocab.ANY}"])


def job_labels(mm: MelodyModel, job: MelodyJob) -> dict[str, str]:
    """The job's labels as the model's keys ("any" for open ones); StudioError("music_bad_label") for a value
    the model does not know, and for bars outside 1..MAX_BARS."""
    out = {}
    for name in vocab.FIELDS:
        value = getattr(job, name)
        key = L.canonical(name, value, mm.labels.get(name, []))
        if key is None:
            raise StudioError("music_bad_label", field=name, value=value, choices=_choices(name, mm.labels[name]))
        out[name] = key
    if isinstance(job.bars, bool) or not isinstance(job.bars, int) or not 1 <= job.bars <= MAX_BARS:
        raise StudioError("music_bad_label", field="bars", value=job.bars, choices=f"1-{MAX_BARS}")
    return out


def prompt_tokens(labels: dict[str, str], bars: int) -> list[str]:
    return vocab.prefix(*(None if labels[f] == vocab.ANY else labels[f] for f in vocab.FIELDS), bars)


def prompt_rows(tokenizer, labels: dict[str, str], job: MelodyJob) -> list[list[int]]:
    """The prompt's ids, and with label guidance a second row with every label open (the same length: one token
    per label), which guidance pushes away from."""
    rows = [tokenizer.convert_tokens_to_ids(prompt_tokens(labels, job.bars))]
    if job.guidance != 1 and any(v != vocab.ANY for v in labels.values()):
        rows.append(tokenizer.convert_tokens_to_ids(prompt_tokens(dict.fromkeys(labels, vocab.ANY), job.bars)))
    return rows


def guided(logits: torch.Tensor, guidance: float) -> torch.Tensor:
    """[1, V] logits from the model's last-position logits of 1 row (as they are) or 2 (labelled, open)."""
    if logits.shape[0] == 1:
        return logits
    return logits[1:] + guidance * (logits[:1] - logits[1:])


class Grammar:
    """Which token ids may come next in a body of `bars` bars, given the body so far.

    With `meter` (sixteenths per bar; None: free) the bars are kept in it as well: a duration that would overflow
    the bar is masked, an inner bar ends exactly when it is full, the first may end early (a pickup) and the last
    then ends when it completes the pickup's bar (else when full). The model still chooses every note; the grammar
    only removes the choices that break the meter. With `final` (a pitch class: the mode's final, gong = C) the
    piece ends on it: in the last bar a note of another pitch (or a rest) may not complete the bar or end the
    piece, so the melody comes to rest on the mode's final as the course teaches it."""

    def __init__(self, tokenizer, bars: int, meter: int | None = None, final: int | None = None):
        ids = lambda tokens: tokenizer.convert_tokens_to_ids(list(tokens))  # noqa: E731
        self.bars, self.meter = bars, meter
        self.pitches, self.durations = ids(vocab.PITCH_TOKENS), ids(vocab.DURATION_TOKENS)
        self.length = {i: k + 1 for k, i in enumerate(self.durations)}  # d1..d32 in sixteenths
        self.bar_ids = {t: i for t, i in zip(vocab.BAR_TOKENS, ids(vocab.BAR_TOKENS))}
        self.eos = tokenizer.eos_token_id
        self.pitch_set, self.bar_set = set(self.pitches), set(self.bar_ids.values())
        self.opened, self.last = 0, None  # bars opened, the last body token id
        self.fill, self.pickup = 0, 0  # sixteenths in the current bar; the first bar's length
        self.final, self.on_final = final, False  # the mode's final pitch class; whether the last note is on it
        pitch_of = {i: vocab.pitch_of(t) for t, i in zip(vocab.PITCH_TOKENS, self.pitches)}
        self.final_ids = {i for i, p in pitch_of.items() if final is not None and p is not None and p % 12 == final}
        self.resting = [i for i in self.pitches if i in self.final_ids]

    def _target(self) -> int | None:
        """The length the current bar must reach before it may end (None: any length)."""
        if self.meter is None or self.opened == 1:
            return None
        if self.opened >= self.bars and 0 < self.pickup < self.meter:
            return self.meter - self.pickup
        return self.meter

    def allowed(self) -> list[int]:
        target = self._target()
        room = (self.meter if target is None else target) - self.fill if self.meter else None
        closing = self.final is not None and self.opened >= self.bars  # in the last bar, with a final to reach
        if self.last in self.pitch_set:
            fits = self.durations if room is None else [i for i in self.durations if self.length[i] <= room]
            if closing and not self.on_final and room is not None:  # another pitch may not complete the bar
                fits = [i for i in fits if self.length[i] < room]
            return fits
        if self.opened == 0:
            return [self.bar_ids[vocab.bar_token(0, self.bars)]]
        pitches = self.resting if closing and room == 1 else self.pitches
        if self.last in self.bar_set:
            return pitches
        end = self.eos if self.opened >= self.bars else self.bar_ids[vocab.bar_token(self.opened, self.bars)]
        ends = [] if closing and not self.on_final else [end]  # the piece ends only on the final
        if room is None:
            return self.pitches + ends
        if target is not None and room <= 0:
            return [end]
        return (pitches if room > 0 else []) + (ends if target is None else [])

    def push(self, token_id: int) -> None:
        if token_id in self.bar_set:
            if self.opened == 1:
                self.pickup = self.fill
            self.opened += 1
            self.fill = 0
        self.fill += self.length.get(token_id, 0)
        if token_id in self.pitch_set:
            self.on_final = token_id in self.final_ids
        self.last = token_id

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [1, V] with every forbidden token at -inf. Where a bar may end, the allowed boundary (the right
        bar token, or <eos> after the last bar) takes the probability of all of them (every bar token and <eos>):
        the model decides that the bar ends, the count decides which token says so."""
        allowed = self.allowed()
        out = torch.full_like(logits, float("-inf"))
        index = torch.tensor(allowed, device=logits.device)
        out[:, index] = logits[:, index]
        boundary = [t for t in allowed if t in self.bar_set or t == self.eos]
        if boundary and len(allowed) > 1:
            every = torch.tensor(sorted(self.bar_set | {self.eos}), device=logits.device)
            out[:, boundary[0]] = torch.logsumexp(logits[:, every], dim=-1)
        return out


def grammar_for(tokenizer, labels: dict, job: MelodyJob) -> Grammar:
    """The grammar of a job: its bars, and with strict_form its named meter and its named mode's final."""
    meter = labels["meter"] != vocab.ANY and job.strict_form
    final = labels["mode"] != vocab.ANY and job.strict_form
    return Grammar(tokenizer, job.bars, round(meter_quarters(labels["meter"]) * 4) if meter else None,
                   L.FINALS[labels["mode"]] if final else None)


def _context(mm: MelodyModel) -> int:
    return int(mm.model.config.n_positions)


@torch.no_grad()
def sample(mm: MelodyModel, job: MelodyJob, stop: threading.Event | None = None) -> Melody:
    """A melody of job.bars bars for the job's labels, drawn with the job's sampling knobs and seed.

    Polls check_stop(stop) before every token (raises StudioError("stopped")). A token the grammar leaves as the
    only choice (the first bar token) is taken without a draw; every other one is drawn from the masked logits
    after the knobs (temperature 0: argmax)."""
    labels = job_labels(mm, job)
    tok, model = mm.tokenizer, mm.model
    device = model.device
    rows = prompt_rows(tok, labels, job)
    processors = logits_processors(job.sampling)
    greedy = job.sampling.greedy
    g = None if greedy else torch.Generator(device=device).manual_seed(int(job.seed))
    grammar = grammar_for(tok, labels, job)
    seq = torch.tensor(rows, device=device)  # with guidance, both rows take the same tokens
    pending, past = seq, None
    complete = False
    while seq.shape[1] < _context(mm):
        check_stop(stop)
        allowed = grammar.allowed()
        if len(allowed) == 1:
            token = allowed[0]
        else:
            out = model(input_ids=pending, past_key_values=past, use_cache=True)
            past, pending = out.past_key_values, seq[:, :0]
            logits = guided(out.logits[:, -1].float(), job.guidance)
            scores = processors(seq[:1], grammar.mask(logits))
            if greedy:
                token = int(torch.argmax(scores, dim=-1))
            else:
                token = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=g))
        step = torch.full((seq.shape[0], 1), token, device=device)
        seq = torch.cat([seq, step], dim=1)
        pending = torch.cat([pending, step], dim=1)
        grammar.push(token)
        if token == tok.eos_token_id:
            complete = True
            break
    tokens = tok.convert_ids_to_tokens(seq[0].tolist())
    return _melody(tokens, labels, job.bars, complete, len(rows[0]))


def _melody(tokens: list[str], labels: dict, bars: int, complete: bool, n_prompt: int) -> Melody:
    meter = None if labels["meter"] == vocab.ANY else labels["meter"]
    body = tokens[n_prompt:]
    notes = vocab.notes_of(body, meter)
    positions = [n_prompt + i for i, t in enumerate(body)
                 if t in vocab.PITCH_TOKENS and i + 1 < len(body) and body[i + 1] in vocab.DURATION_TOKENS]
    sounding = [n.pitch for n in notes if n.pitch is not None]
    final = L.mode_of("C", sounding[-1]) if sounding else None
    return Melody(notes, tokens, labels, bars, complete, positions, final)


_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# degrees relative to gong = C: the five tones and the usual names of the others
_DEGREES = {0: ("gong", "宫"), 2: ("shang", "商"), 4: ("jue", "角"), 5: ("qingjue", "清角"), 6: ("bianzhi", "变徵"),
            7: ("zhi", "徵"), 9: ("yu", "羽"), 10: ("run", "闰"), 11: ("biangong", "变宫")}


def pitch_name(pitch: int | None) -> tuple[str, str | None]:
    """("G4 · 徵", "zhi") for a pitch under gong = C; ("休止 rest", None) for a rest."""
    if pitch is None:
        return "休止 rest", None
    name = f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"
    degree = _DEGREES.get(pitch % 12)
    return (f"{name} · {degree[1]}", degree[0]) if degree else (name, None)


@torch.no_grad()
def next_note(mm: MelodyModel, job: MelodyJob, melody: Melody, index: int, n: int = 12) -> list[dict]:
    """The n most likely tokens for the pitch of note `index` of `melody`, given the tokens before it: the
    probability (after label guidance) before and after temperature and the final one sampling draws from (grammar
    mask, then the job's knobs in generate()'s order), whether top-k / top-p keep it, and whether it is the one the
    melody has. A row:
    {rank, token, pitch, name, degree, p_raw, p_temperature, p_final, kept, chosen}."""
    from transformers import LogitsProcessorList
    if not 0 <= index < len(melody.pitch_positions):
        raise IndexError(f"note {index} of {len(melody.pitch_positions)}")
    tok = mm.tokenizer
    position = melody.pitch_positions[index]
    rows = prompt_rows(tok, melody.labels, job)
    body = tok.convert_tokens_to_ids(melody.tokens[len(rows[0]):position])
    ids = torch.tensor([row + body for row in rows], device=mm.model.device)
    grammar = grammar_for(tok, melody.labels, job)
    for token_id in body:
        grammar.push(token_id)
    penalty, temperature, cut = (LogitsProcessorList(stage) for stage in processor_stages(job.sampling))
    ids, logits = ids[:1], guided(mm.model(input_ids=ids).logits[:, -1, :].float(), job.guidance)
    logits = penalty(ids, grammar.mask(logits))
    raw = torch.softmax(logits, dim=-1)[0]
    if job.sampling.greedy:
        final = torch.zeros_like(raw)
        final[raw.argmax()] = 1.0
        tempered, kept = final, final > 0
    else:
        warped = temperature(ids, logits)
        tempered = torch.softmax(warped, dim=-1)[0]
        kept_logits = cut(ids, warped)
        final = torch.softmax(kept_logits, dim=-1)[0]
        kept = torch.isfinite(kept_logits[0])
    chosen = tok.convert_tokens_to_ids(melody.tokens[position])
    rows = []
    for rank, i in enumerate(torch.argsort(raw, descending=True)[:n].tolist()):
        token = tok.convert_ids_to_tokens(i)
        pitch = vocab.pitch_of(token) if token in vocab.PITCH_TOKENS else None
        name, degree = pitch_name(pitch) if token in vocab.PITCH_TOKENS else (token, None)
        rows.append(dict(rank=rank + 1, token=token, pitch=pitch, name=name, degree=degree, p_raw=float(raw[i]),
                         p_temperature=float(tempered[i]), p_final=float(final[i]), kept=bool(kept[i]),
                         chosen=i == chosen))
    return rows
