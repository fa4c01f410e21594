"""Evaluate a mini-melody model folder on prepare_data.py's held-out split and on generated pieces.

    python -m scripts.mini_melody.evaluate assets/models/mini-melody runs/mini-melody-data [--card] [--check]

Prints Markdown tables:
1. Held-out perplexity per body token (bar, pitch and duration tokens and <eos>; the prefix is given) of the
   held-out tunes with their labels, against the same tunes with their pitches shuffled (each tune's pitches
   permuted over its notes with a fixed seed; rhythm, bars and labels kept), and with all labels "any". The
   pitch tokens alone are scored too, since shuffling changes only them. Target: the real order clearly more
   likely than the shuffled one (pitch perplexity at most 2/3 of the shuffled).
2. Generated pieces through the studio's own sampler (studio.music.melody.sample), --samples per (meter, mode)
   for meters 2/4, 3/4, 4/4 and the five modes, region and genre "any", --bars bars, at each temperature, with
   the model alone (strict_form=False) and with the form kept (the default): the share in the requested meter
   (every bar but the first and last fills the meter exactly, and those two do not overflow it), the share
   ending on the requested mode's final, and, as a baseline, the share of pieces with mode "any" that end on the
   final of a mode named in turn for the same seeds. Targets at temperature 0.9 with the form kept: 100% in
   meter (by construction), >= 60% on the final.

--card writes the tables into MODEL_DIR/README.md (between the eval markers); --check exits with status 1 when a
target is missed; --json PATH saves the figures. Seeded; fp32 on the CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scripts.mini_melody.train import read_tunes, tune_tokens
from scripts.trainlib import command
from studio.music import vocab
from studio.music.labels import FINALS, NAMES
from studio.music.notes import meter_quarters


METERS = ("2/4", "3/4", "4/4")
MODES = tuple(FINALS)
TEMPERATURES = (0.6, 0.9, 1.2)
SEED = 2024
MARK_START, MARK_END = "<!-- eval:start -->", "<!-- eval:end -->"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path)
    p.add_argument("data_dir", type=Path, help="prepare_data.py's output folder (eval.jsonl)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=6, help="pieces per (meter, mode) and temperature")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)))
    p.add_argument("--max-tunes", type=int, default=0, help="score only the first N held-out tunes (0: all)")
    p.add_argument("--card", action="store_true", help="write the results into MODEL_DIR/README.md")
    p.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    p.add_argument("--json", type=Path, help="also save the figures here")
    args = p.parse_args(argv)
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    args.command = command("scripts.mini_melody.evaluate", argv)
    return args


# -- held-out perplexity -------------------------------------------------------------------------
def shuffled(tune: dict, rng: np.random.Generator) -> dict:
    """The tune with its pitch tokens permuted over its notes (durations, bars and labels kept)."""
    tokens = list(tune["tokens"])
    where = [i for i, t in enumerate(tokens) if t in vocab.PITCH_TOKENS]
    pitches = [tokens[i] for i in where]
    for i, j in zip(where, rng.permutation(len(pitches))):
        tokens[i] = pitches[j]
    return dict(tune, tokens=tokens)


def open_labels(tune: dict) -> dict:
    return dict(tune, labels={f: vocab.ANY for f in vocab.FIELDS})


@torch.no_grad()
def token_losses(model, tokenizer, tunes: list[dict], drop_all: bool = False) -> tuple[float, float, int, int]:
    """(nats over body tokens, nats over pitch tokens, body tokens, pitch tokens) of tunes scored one by one."""
    n_prefix = len(vocab.FIELDS) + 2
    pitch_ids = set(tokenizer.convert_tokens_to_ids(vocab.PITCH_TOKENS))
    total = pitch_total = 0.0
    count = pitch_count = 0
    for tune in tunes:
        drop = np.ones(len(vocab.FIELDS) + 1, dtype=bool) if drop_all else None
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(tune_tokens(tune, drop))])
        logits = model(input_ids=ids).logits[0, n_prefix - 1:-1].float()
        target = ids[0, n_prefix:]
        nll = F.cross_entropy(logits, target, reduction="none")
        is_pitch = torch.tensor([int(t) in pitch_ids for t in target])
        total += float(nll.sum())
        pitch_total += float(nll[is_pitch].sum())
        count += len(target)
        pitch_count += int(is_pitch.sum())
    return total, pitch_total, count, pitch_count


def perplexities(model, tokenizer, tunes: list[dict]) -> dict:
    rng = np.random.default_rng(SEED)
    variants = {"real": (tunes, False), "shuffled": ([shuffled(t, rng) for t in tunes], False),
                "labels any": (tunes, True)}
    out = {}
    for name, (rows, drop_all) in variants.items():
        total, pitch_total, count, pitch_count = token_losses(model, tokenizer, rows, drop_all)
        out[name] = {"ppl": math.exp(total / count), "pitch_ppl": math.exp(pitch_total / pitch_count),
                     "tokens": count, "pitch_tokens": pitch_count}
    return out


# -- generation ----------------------------------------------------------------------------------
def in_meter(notes, meter: str) -> bool:
    """Every bar but the first and last fills the meter exactly; those two do not overflow it."""
    full = meter_quarters(meter)
    sums: dict[int, float] = {}
    for note in notes:
        sums[note.bar] = sums.get(note.bar, 0.0) + note.duration
    values = [sums[b] for b in sorted(sums)]
    if not values:
        return False
    inner_ok = all(abs(v - full) < 1e-6 for v in values[1:-1])
    return inner_ok and values[0] <= full + 1e-6 and values[-1] <= full + 1e-6


SAMPLERS = {"model": False, "form kept": True}  # MelodyJob.strict_form: the meter and the final kept


def generation(mm, args) -> dict:
    from studio.music.melody import MelodyJob, sample
    from studio.text.sampling import Sampling
    out = {}
    for temperature in args.temperatures:
        sampling = Sampling(temperature, 0, 1.0, 1.0)
        for sampler, strict in SAMPLERS.items():
            pieces = ok_meter = ok_final = complete = any_hits = any_pieces = 0
            by_mode = {m: [0, 0] for m in MODES}
            examples = {}
            for mi, meter in enumerate(METERS):
                for di, mode in enumerate(MODES):
                    for r in range(args.samples):
                        seed = SEED + (mi * len(MODES) + di) * args.samples + r
                        melody = sample(mm, MelodyJob(meter, mode, None, None, args.bars, sampling, seed, strict))
                        pieces += 1
                        ok_meter += in_meter(melody.notes, meter)
                        ok_final += melody.final == mode
                        complete += melody.complete
                        by_mode[mode][0] += melody.final == mode
                        by_mode[mode][1] += 1
                        if r == 0 and mi == 0:
                            examples[mode] = melody
                        if di == 0:  # the same seeds with the mode left open: the chance of hitting a final
                            free = sample(mm, MelodyJob(meter, None, None, None, args.bars, sampling, seed, strict))
                            any_hits += free.final == MODES[r % len(MODES)]
                            any_pieces += 1
            out[f"{temperature}|{sampler}"] = {
                "temperature": temperature, "sampler": sampler,
                "pieces": pieces, "in_meter": ok_meter / pieces, "on_final": ok_final / pieces,
                "complete": complete / pieces, "on_final_mode_any": any_hits / max(any_pieces, 1),
                "on_final_by_mode": {m: h / max(n, 1) for m, (h, n) in by_mode.items()},
                "examples": {m: " ".join(_name(n.pitch) for n in mel.notes) for m, mel in examples.items()},
            }
    return out


def _name(pitch) -> str:
    from studio.music.melody import pitch_name
    return pitch_name(pitch)[0].split(" · ")[-1] if pitch is not None else "0"


# -- main ----------------------------------------------------------------------------------------
def evaluate(args) -> dict:
    from transformers.utils import logging as hf_logging

    from studio.core.specs import ModelSpec
    from studio.music.melody import load_melody
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    mm = load_melody(ModelSpec(key="mini-melody", task="music", loader="melody", path=args.model_dir), "cpu")
    held = read_tunes(args.data_dir / "eval.jsonl")
    if args.max_tunes:
        held = held[:args.max_tunes]
    result = {"model_dir": str(args.model_dir), "held_out_tunes": len(held),
              "perplexity": perplexities(mm.model, mm.tokenizer, held), "generation": generation(mm, args)}
    ppl = result["perplexity"]
    result["pitch_ratio"] = ppl["real"]["pitch_ppl"] / ppl["shuffled"]["pitch_ppl"]
    g = result["generation"].get("0.9|form kept")
    result["checks"] = {
        "pitch ppl <= 2/3 of shuffled": result["pitch_ratio"] <= 2 / 3,
        "in meter at T=0.9 (form kept) = 100%": None if g is None else g["in_meter"] == 1.0,
        "on the mode's final at T=0.9 (form kept) >= 60%": None if g is None else g["on_final"] >= 0.6,
    }
    result["seconds"] = time.time() - t0
    return result


def tables(result: dict, args) -> str:
    r, p = result, result["perplexity"]
    ok = {True: "yes", False: "**no**", None: "n/a"}
    out = [
        f"Held-out tunes: {r['held_out_tunes']} ({p['real']['tokens']} body tokens, {p['real']['pitch_tokens']} "
        "pitch tokens); perplexity per token:",
        "",
        "| variant | all body tokens | pitch tokens |", "|---|---|---|",
        f"| held-out tunes, labels given | {p['real']['ppl']:.2f} | {p['real']['pitch_ppl']:.2f} |",
        f"| same tunes, pitches shuffled (rhythm and bars kept) | {p['shuffled']['ppl']:.2f} | "
        f"{p['shuffled']['pitch_ppl']:.2f} |",
        f"| same tunes, all labels \"any\" | {p['labels any']['ppl']:.2f} | {p['labels any']['pitch_ppl']:.2f} |",
        "",
        f"Generated: {args.samples} pieces per (meter, mode) for meters {', '.join(METERS)} × the five modes, "
        f"{args.bars} bars, region and genre \"any\", top-k 0, top-p 1 (the studio's sampler). *In meter*: every bar "
        "but the first and last fills the meter, and those two do not overflow it. *On final*: the last note is "
        "the requested mode's final (gong = C: 宫 C, 商 D, 角 E, 徵 G, 羽 A). *Mode any*: the same seeds with the "
        "mode left open, scored against a mode named in turn (the chance of hitting a final unasked).",
        "",
        "*Sampler*: `model` is the model alone (`MelodyJob(strict_form=False)`: only the bar count is kept); "
        "`form kept` is the studio's default grammar, which masks the durations that would overflow a bar of the "
        "named meter, and in the last bar lets only a note on the named mode's final complete it (the model still "
        "picks every note): those two columns are 100% by construction; the `model` rows are what it learnt.",
        "",
        "| temperature | sampler | pieces | in meter | on final | mode any: on final | complete | on final by "
        "mode (宫 商 角 徵 羽) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["generation"].values():
        by = " / ".join(f"{s['on_final_by_mode'][m]:.0%}" for m in MODES)
        out.append(f"| {s['temperature']} | {s['sampler']} | {s['pieces']} | {s['in_meter']:.1%} | "
                   f"{s['on_final']:.1%} | {s['on_final_mode_any']:.1%} | {s['complete']:.0%} | {by} |")
    out += ["", "| check | met |", "|---|---|"] + [f"| {k} | {ok[v]} |" for k, v in r["checks"].items()]
    return "\n".join(out)


def examples(result: dict) -> str:
    g = result["generation"].get("0.9|form kept") or next(iter(result["generation"].values()))
    out = [f"Examples (2/4, temperature {g['temperature']}, {g['sampler']}, first seed; the degrees of the notes "
           "under gong = C, 0 a rest):", ""]
    for mode, text in g["examples"].items():
        out.append(f"- {NAMES['mode'][mode]['zh']} {mode}: {text}")
    return "\n".join(out)


def write_card(path: Path, result: dict, args) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK_START not in text or MARK_END not in text:
        raise SystemExit(f"{path} has no {MARK_START} ... {MARK_END} section")
    body = "\n\n".join([
        f"`{args.command}` ({datetime.date.today().isoformat()}, {args.threads} thread(s), "
        f"{result['seconds']:.0f} s):", tables(result, args), examples(result)])
    head, rest = text.split(MARK_START, 1)
    tail = rest.split(MARK_END, 1)[1]
    path.write_text(f"{head}{MARK_START}\n{body}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = evaluate(args)
    print(tables(result, args))
    print()
    print(examples(result))
    print(f"\n({result['seconds']:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.card:
        write_card(args.model_dir / "README.md", result, args)
    if args.check and not all(v for v in result["checks"].values() if v is not None):
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
