"""Train mini-melody: a GPT-2 (transformers GPT2LMHeadModel) over note / duration / bar tokens of Chinese folk songs,
conditioned on meter, mode, region and genre by prefix tokens.

    python -m scripts.mini_melody.train --data runs/mini-melody-data --work runs/mini-melody \
        --out assets/models/mini-melody
    python -m scripts.mini_melody.train --smoke --data D --work W --out O          # seconds, for CI

(from the repository root) --data is prepare_data.py's OUT_DIR. Each training row is one tune, from its <bos> to
its <eos> at positions 0.. as at sampling time (no packing: a tune never attends to another tune's tokens), padded
to the longest row of its batch (tunes of similar length are batched together); each label token is replaced by
its field's "any" with probability --label-dropout, so that any label may be left open at sampling time.
Checkpoints go to --work every --save-every steps (scripts/trainlib.py's: the last two kept, a damaged one
skipped); the same command again resumes from the latest one, and a resumed run equals an unbroken one: a step's
rows, label dropout and dropout masks depend only on (seed, step). When the last step is done the model folder is
exported to --out: config.json, model.safetensors (fp16 on disk), tokenizer, generation_config.json,
labels.json, training.json, loss.png and README.md (the model card; evaluate.py --card fills in its evaluation
section). --stop-at-step N saves and exits after step N. --threads defaults to 1.
"""
from __future__ import annotations

import datetime
import json
import math
import shlex
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scripts.mini_melody.prepare_data import CONTEXT
from scripts.trainlib import (
    ROOT,
    arguments,
    command,
    load_checkpoint,
    lr_at,
    machine,
    make_readable,
    n_params,
    run_commits,
    save_checkpoint,
)
from studio.music import vocab


# Arguments that define the run: a checkpoint made with other values is not resumed.
RUN_KEYS = ("seed", "steps", "batch", "lr", "warmup", "weight_decay", "dropout", "label_dropout", "n_layer", "n_embd",
            "n_head", "max_tunes")


def parse_args(argv=None):
    p = arguments(__doc__, work="checkpoints and logs", out="where the model folder is written",
                  smoke="a few steps of a tiny model on the data (CI)", threads=1, save_every=100)
    p.add_argument("--data", type=Path, required=True, help="prepare_data.py's output folder")
    p.add_argument("--steps", type=int, default=1400)
    p.add_argument("--batch", type=int, default=24, help="tunes (rows) per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay to 10%%)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--label-dropout", type=float, default=0.15, help="chance that a label token becomes 'any'")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--max-tunes", type=int, default=0, help="use only the first N training tunes (0: all)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--stop-at-step", type=int, default=0, help="save and exit after this step (0: run to the end)")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.batch, args.warmup, args.max_tunes = 4, 2, 2, 16
        args.n_layer, args.n_embd, args.n_head = 1, 32, 2
        args.save_every, args.eval_every, args.log_every = 2, 2, 1
    args.command = command("scripts.mini_melody.train", argv)
    return args


# -- model ---------------------------------------------------------------------------------------
def make_model(args, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(args.seed)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=args.n_embd, n_layer=args.n_layer,
        n_head=args.n_head, resid_pdrop=args.dropout, embd_pdrop=args.dropout, attn_pdrop=args.dropout,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    return GPT2LMHeadModel(config)


# -- data ----------------------------------------------------------------------------------------
def read_tunes(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tune_tokens(tune: dict, drop: np.ndarray | None = None) -> list[str]:
    """prefix + body of a tune; drop[i] True leaves the i-th label (FIELDS, then the length) as "any"."""
    values = [tune["labels"][f] for f in vocab.FIELDS] + [tune["bars"]]
    if drop is not None:
        values = [None if d else v for v, d in zip(values, drop)]
    return vocab.prefix(*values) + tune["tokens"]


class Rows:
    """Training rows: one tune per row (from its <bos> to its <eos>, positions from 0 as at sampling time, no
    attention to another tune), padded to the longest row of its batch (attention_mask 0 and target -100 on the
    padding). Each epoch's order is fixed by (seed, epoch): a permutation, cut into chunks of BUCKET batches whose
    tunes are sorted by length (little padding) and split into batches, the batches then shuffled. The label
    dropout of each row is fixed by (seed, step, row)."""

    BUCKET = 16

    def __init__(self, tunes: list[dict], tokenizer, seed: int, label_dropout: float, size: int):
        self.tunes, self.tok, self.seed, self.p, self.size = tunes, tokenizer, seed, label_dropout, size
        self.pad = tokenizer.pad_token_id
        self.per_epoch = max(1, len(tunes) // size)
        self._orders: dict = {}

    def _order(self, epoch: int) -> list[list[int]]:
        if epoch not in self._orders:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(len(self.tunes))
            perm = np.concatenate([perm, perm[:max(0, self.size - len(perm))]])  # fewer tunes than a batch (smoke)
            length = lambda i: len(self.tunes[i]["tokens"])  # noqa: E731
            batches = []
            chunk = self.size * self.BUCKET
            for c in range(0, self.per_epoch * self.size, chunk):
                part = sorted(perm[c:min(c + chunk, self.per_epoch * self.size)].tolist(), key=length)
                batches += [part[b:b + self.size] for b in range(0, len(part), self.size)]
            self._orders = {epoch: [batches[i] for i in rng.permutation(len(batches))]}
        return self._orders[epoch]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input ids, targets, attention mask) of a step, each [rows, longest - 1]."""
        which = self._order(step // self.per_epoch)[step % self.per_epoch]
        seqs = []
        for r, i in enumerate(which):
            drop = np.random.default_rng([self.seed, step, r]).random(len(vocab.FIELDS) + 1) < self.p
            seqs.append(self.tok.convert_tokens_to_ids(tune_tokens(self.tunes[i], drop)))
        ids, mask = padded(seqs, self.pad)
        targets = ids[:, 1:].clone()
        targets[mask[:, 1:] == 0] = -100  # padding; a tune's <bos> is never a target
        return ids[:, :-1], targets, mask[:, :-1]


def padded(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) [rows, longest]: each tune from position 0, padded after its end."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    return ids, mask


@torch.no_grad()
def eval_loss(model, tokenizer, tunes: list[dict], batch: int = 16, labels: bool = True) -> float:
    """Mean cross-entropy (nats per token) of the body tokens (after the prefix, <eos> included) of each tune alone,
    with all its labels given (labels=False: all left "any")."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    n_prefix = len(vocab.FIELDS) + 2
    for i in range(0, len(tunes), batch):
        drop = None if labels else np.ones(len(vocab.FIELDS) + 1, dtype=bool)
        seqs = [tokenizer.convert_tokens_to_ids(tune_tokens(t, drop)) for t in tunes[i:i + batch]]
        ids, mask = padded(seqs, tokenizer.pad_token_id)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = ids[:, 1:].clone()
        target[mask[:, 1:] == 0] = -100
        target[:, :n_prefix - 1] = -100  # the prefix is given
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                                 reduction="sum").item()
        count += int((target != -100).sum())
    model.train(was)
    return total / max(count, 1)


# -- export --------------------------------------------------------------------------------------
def plot_losses(path: Path, state: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if state["train_log"]:
        steps, losses = zip(*state["train_log"])
        ax.plot(steps, losses, lw=1, label="train (mean over logging interval; label dropout on)")
    if state["eval_log"]:
        steps, losses = zip(*state["eval_log"])
        ax.plot(steps, losses, "o-", ms=3, label="held-out tunes (body tokens, labels given)")
    if state.get("eval_any_log"):
        steps, losses = zip(*state["eval_any_log"])
        ax.plot(steps, losses, "s--", ms=3, label="held-out tunes, all labels \"any\"")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy per token (nats)")
    ax.set_title("mini-melody training")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


CARD = """---
language: zh
license: other
license_name: essen-folksong-non-commercial
library_name: transformers
tags: [gpt2, symbolic-music, melody, chinese-folk-song, essen]
---
# mini-melody · 迷你民歌旋律

A tiny GPT-2 trained from scratch on Chinese folk-song melodies (the Han songs of the Essen folk-song collection),
the offline built-in model of AIGC Studio's 音乐生成 (music) tab. It writes a melody of a requested number of bars,
conditioned on meter (拍号), mode (调式: 宫 商 角 徵 羽), region (地区) and genre (体裁/流派: 小调, 山歌, ...);
any of them may be left open ("any").

**For non-commercial teaching only** (the licence of its training data, quoted below).

```python
from pathlib import Path
from studio.core.specs import ModelSpec
from studio.music.melody import MelodyJob, load_melody, sample
from studio.text.sampling import Sampling
mm = load_melody(ModelSpec(key="mini-melody", task="music", loader="melody", path=Path("{out}")), "cpu")
job = MelodyJob(meter="2/4", mode="羽", region="陕西", genre="小调", bars=8,
                sampling=Sampling(0.9, 0, 1.0, 1.0), seed=1, guidance=3.0)  # the studio's default guidance
melody = sample(mm, job)          # melody.notes: studio.music.notes.Note, gong = C
```

## Data

- Corpus: `essenFolksong/{files}` of the music21 corpus (music21 {music21_version}), the Chinese (Han) songs of
  the Essen folk-song database in Seymour Schlien's ABC encoding; sha256 of the files `{corpus_sha256}`;
  {tunes_read} tunes read.
- Licence of the data (music21's `corpus/essenFolksong/license.txt`):

  > The legal status of the Essen folksong database is unclear, as the data has been input by many people.
  > Original encoding was completed under the supervision of Helmut Schaffrath.
  > The project was taken over by Prof. AMU Dr. Habil. Ewa Dahlig-Turek, who has given permission
  > for non-commercial distribution and use of these files in music21.

  This model is derived from those files: use and share it for non-commercial teaching only.
- Read with `scripts/mini_melody/abc.py` (a reader for the small part of ABC these files use; each line of a body is
  a phrase, and a line's end closes a bar unless the bar is still short of the meter). Skipped: {skipped_unreadable}
  unreadable tunes, {skipped_not_sixteenths} with a note that is not a whole number of sixteenths (L:1/32 files;
  no tuplets occur), {skipped_too_long} longer than the context; **{tunes_kept} tunes kept**.
- Every tune is transposed so that gong (the key signature's major tonic) is C; ties inside a bar are merged, a
  note tied over a bar line becomes two notes.
- Labels: meter from `M:` (only when every inner bar fills it: {mixed_meter_tunes} tunes with mixed bars have
  meter "any"); **the mode is a derived label**: the Essen headers give a key signature, never a mode, so the
  mode is read from the final note against the key signature's pentatonic set (gong = the major tonic; K:G, final
  D -> 徵; a final outside the set -> no mode); region is the province in `O:`, genre the first word of `R:`. A
  value held by fewer than {min_tunes} tunes becomes "any". Counts over the kept tunes:

{label_table}

- Split: {eval_percent:g}% of the tunes held out, by a hash of the tune's tokens: {train_tunes} training tunes
  ({train_tokens} tokens), {eval_tunes} held-out tunes ({eval_tokens} tokens).

## Tokens

`<bos> meter:2/4 mode:zhi region:Shaanxi genre:Xiaodiao bars:16 | p67 d4 p64 d2 p62 d2 | ... |1 p67 d8 <eos>`:
a prefix of one token per label (each field has an `any` token) and a bar-count bucket (`bars:4/8/12/16/20/24/32/
48/long/any`); then a bar token before each bar (`|4 |3 |2 |1` open the last four bars, `|` earlier ones: the
sampler writes the right one, so a piece has exactly the requested bars and the model sees the end coming), each
note as a pitch token (`p48`..`p91`, MIDI with gong = C, or `rest`) and a duration token (`d1`..`d32`, in
sixteenths). {vocab_size} tokens (`studio/music/vocab.py`; the label values are in `labels.json`).

The studio's sampler (`studio/music/melody.py`) masks what the grammar forbids (a duration after a pitch, the
right bar token, `<eos>` only after the last bar) and, by default, the durations that would overflow a bar of
the named meter, and in the last bar every note off the named mode's final that would complete it
(`MelodyJob.strict_form`): the model still picks every note, rhythm and bar end within those bounds. The
evaluation below reports the model alone too.

**Label guidance** (`MelodyJob.guidance`, the page's 引导强度, default 3 in the studio): classifier-free guidance
over the labels, as CFG is over a prompt in 文生图. Each token's logits are computed for two rows, the labelled
prefix and the same prefix with every label `any` (label dropout trained the model for both), and sampling draws
from `any + guidance x (labelled - any)`. 1 is the labelled row alone; with nothing named it changes nothing.

## Model

`GPT2LMHeadModel`: {n_layer} layers, {n_embd} hidden, {n_head} heads, context {context} tokens, vocabulary
{vocab_size}, tied input/output embeddings, **{params:,} parameters**. Stored in fp16 (`model.safetensors`,
{weights_mb:.1f} MB); `config.json` says float32, the precision it runs in on a CPU.

## Training

```bash
{prepare_command}
{train_command}
python -m scripts.mini_melody.evaluate {out} {data} --card
```

- Code: this repository at {commits} (HEAD at each start of the run; `+modified`: with uncommitted edits).
- {steps} steps of {batch} tunes, one tune per row (from its `<bos>`, at positions 0.. as when sampling, padded
  to the longest tune of its batch and masked: no tune attends to another; tunes of similar length are batched
  together), each label token left as `any` with probability {label_dropout} (label dropout), AdamW (β
  0.9/0.95, weight decay {weight_decay} on matrices), peak learning rate {lr} with {warmup} warm-up steps and
  cosine decay to 10%, dropout {dropout}, gradient clipping 1.0, fp32, seed {seed}. Deterministic: a step's rows,
  label dropout and dropout masks depend only on (seed, step); checkpoints every {save_every} steps, and a resumed
  run equals an unbroken one.
- Machine: {machine}; torch {torch_version}, transformers {transformers_version}, {threads} thread(s);
  {minutes:.1f} min of training.
- Final losses (nats per token): training {final_train:.3f}, held-out {final_eval:.3f} (perplexity
  {final_ppl:.2f}).

![loss curve](loss.png)

## Evaluation

<!-- eval:start -->
Not evaluated yet: run `python -m scripts.mini_melody.evaluate {out} {data} --card`.
<!-- eval:end -->

## What it cannot do

- The model alone keeps a meter poorly (it has no beat-position tokens and must add up durations itself; see
  Evaluation, `model` rows): the studio's sampler keeps the form (`MelodyJob.strict_form`, on by default): every
  bar in a named meter, and the last note on a named mode's final (the course: 调式 decides where the melody
  comes to rest). The model still picks every note; the grammar only removes the choices that would break the
  form. A beat-position token per note is the next step.
- What the labels do by themselves (Evaluation, "Do the labels act?"): **调式 (mode) acts**: the held-out final
  note is far more likely with the true mode than with mode "any", and far less with a wrong one, and the model
  alone ends on the asked mode's final clearly more often than it hits that final unasked for 徵 and 羽, a
  little for 商, not for 宫 and 角 (12 pieces per mode: rough figures; the grammar makes it 100%).
  **流派 (genre) and 地区 (region) act only as weak tendencies by themselves**: the held-out perplexity moves by a
  few tenths of a percent between the true, "any" and a wrong value. Label guidance (the studio's default 3)
  amplifies these tendencies, as CFG does a prompt's: the Evaluation's genre and region tables put guidance 1 and
  3 side by side. Amplified, they are still tendencies learnt from a few dozen tunes per value, exaggerated rather
  than made more faithful (at guidance 3 the mean-pitch gaps between genres grow past the data's), not a reliable
  control.
- It imitates the surface of these songs (pentatonic steps, rhythms, cadences on the mode's final); the pieces
  have no lyrics, rarely a clear phrase structure, and its regions and genres are only tendencies learnt from a
  few dozen tunes each.
- The mode is a derived label (see Data), not an editor's; 角 (jue) has few tunes, and its pieces are the least
  reliable. Every melody comes out with gong = C: transpose it to another key yourself.
- One melodic line only (no harmony, no ornaments, no tempo); at most {context} tokens (about 30-40 bars).
- The corpus reflects what its collectors chose and how they transcribed it in the 1980s-90s.
"""


def label_table(meta: dict) -> str:
    from studio.music.labels import NAMES
    rows = ["| field | kept values (tunes) | became \"any\" |", "|---|---|---|"]
    for field in vocab.FIELDS:
        counts = meta["label_counts"][field]
        kept = meta["labels"][field]
        names = NAMES.get(field, {})
        zh = {v: names.get(v, {}).get("zh", v) for v in kept}
        shown = ", ".join(f"{v} {zh[v]} ({counts[v]})" if zh[v] != v else f"{v} ({counts[v]})" for v in kept)
        other = sum(n for v, n in counts.items() if v not in kept)
        rows.append(f"| {field} | {shown} | {other} |")
    return "\n".join(rows)


def write_card(args, state: dict, meta: dict, model) -> None:
    import music21
    import transformers
    commits = ", ".join(f"`{c}`" for c in args.commits.split(", "))
    values = dict(meta)
    values.update(
        out=shlex.quote(str(args.out)), data=shlex.quote(str(args.data)), prepare_command=meta["command"],
        train_command=state["command"], commits=commits, params=n_params(model), files=", ".join(meta["corpus_files"]),
        music21_version=music21.__version__, label_table=label_table(meta),
        weights_mb=(args.out / "model.safetensors").stat().st_size / 2**20, context=CONTEXT, machine=machine(),
        torch_version=torch.__version__, transformers_version=transformers.__version__, threads=args.threads,
        minutes=state["train_seconds"] / 60,
        final_train=state["train_log"][-1][1] if state["train_log"] else float("nan"),
        final_eval=state["eval_log"][-1][1], final_ppl=math.exp(state["eval_log"][-1][1]),
        **{k: state["run"][k] for k in RUN_KEYS}, save_every=args.save_every)
    (args.out / "README.md").write_text(CARD.format(**values), encoding="utf-8")


def export(args, model, tokenizer, state: dict, meta: dict) -> None:
    import copy

    from transformers import GenerationConfig
    args.out.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).eval().to(torch.float16)
    half.save_pretrained(args.out, safe_serialization=True)
    config_path = args.out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # the weights are stored in fp16; on a CPU it runs in fp32
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(args.out)
    GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id, do_sample=True, temperature=0.9, top_k=0, top_p=1.0,
                     max_new_tokens=CONTEXT).save_pretrained(args.out)
    (args.out / "labels.json").write_text((args.data / "labels.json").read_text(encoding="utf-8"), encoding="utf-8")
    record = {k: v for k, v in state.items() if k not in ("train_log",)}
    record.update(commits=args.commits, machine=machine(), params=n_params(model), data=meta)
    (args.out / "training.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    plot_losses(args.out / "loss.png", state)
    write_card(args, state, meta, model)
    make_readable(args.out)
    print(f"exported -> {args.out}", flush=True)


# -- main ----------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    args = parse_args(argv)
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)

    tokenizer = AutoTokenizer.from_pretrained(args.data / "tokenizer")
    meta = json.loads((args.data / "meta.json").read_text(encoding="utf-8"))
    train = read_tunes(args.data / "train.jsonl")
    if args.max_tunes:
        train = train[:args.max_tunes]
    held = read_tunes(args.data / "eval.jsonl")
    rows = Rows(train, tokenizer, args.seed, args.label_dropout, args.batch)

    model = make_model(args, tokenizer)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": other, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    run = {k: getattr(args, k) for k in RUN_KEYS}
    args.work.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(args.work / "checkpoints", {"model": model}, optimizer, fresh=None)
    if state is None:
        state = {"step": 0, "run": run, "command": args.command, "train_log": [], "eval_log": [],
                 "train_seconds": 0.0, "started": datetime.datetime.now().isoformat(timespec="seconds")}
    elif state["run"] != run:
        diff = {k: (state["run"].get(k), v) for k, v in run.items() if state["run"].get(k) != v}
        raise SystemExit(f"{args.work} holds a run with other settings {diff}: use another --work or the same flags")
    args.commits = run_commits(args.work, ROOT)
    print(f"{n_params(model):,} parameters, {len(train)} training tunes, {len(held)} held-out, vocab "
          f"{len(tokenizer)}, threads {args.threads}", flush=True)

    model.train()
    window: list[float] = []
    session_start, tick = time.time(), time.time()
    step = state["step"]
    while step < args.steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        x, y, m = rows.batch(step)
        torch.manual_seed(args.seed * 1_000_003 + step)  # dropout masks depend only on (seed, step)
        logits = model(input_ids=x, attention_mask=m).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window.append(loss.item())
        step += 1
        if step % args.log_every == 0 or step == args.steps:
            now = time.time()
            state["train_log"].append([step, float(np.mean(window))])
            print(f"step {step}/{args.steps} loss {np.mean(window):.4f} "
                  f"lr {lr_at(step - 1, args.steps, args.lr, args.warmup):.2e} "
                  f"{(now - tick) / len(window):.2f} s/step", flush=True)
            window, tick = [], now
        if step % args.eval_every == 0 or step == args.steps:
            state["eval_log"].append([step, eval_loss(model, tokenizer, held)])
            state.setdefault("eval_any_log", []).append([step, eval_loss(model, tokenizer, held, labels=False)])
            print(f"step {step} held-out loss {state['eval_log'][-1][1]:.4f} "
                  f"(ppl {math.exp(state['eval_log'][-1][1]):.2f}; all labels \"any\": "
                  f"{math.exp(state['eval_any_log'][-1][1]):.2f})", flush=True)
        stop = bool(args.stop_at_step) and step >= args.stop_at_step
        if step % args.save_every == 0 or step == args.steps or stop:
            state["step"] = step
            state["train_seconds"] += time.time() - session_start
            session_start = time.time()
            save_checkpoint(args.work / "checkpoints", {"model": model}, optimizer, state)
            if state["train_log"]:
                plot_losses(args.work / "loss.png", state)
        if stop and step < args.steps:
            print(f"stopped after step {step} (--stop-at-step); run the same command without it to go on", flush=True)
            return state

    state["train_seconds"] += time.time() - session_start
    state["step"] = step
    if not state["eval_log"] or state["eval_log"][-1][0] != step:
        state["eval_log"].append([step, eval_loss(model, tokenizer, held)])
    export(args, model, tokenizer, state, meta)
    return state


if __name__ == "__main__":
    main()
