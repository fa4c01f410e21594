"""Train mini-poem: a character-level GPT-2 (transformers GPT2LMHeadModel) on Tang poems.

    python -m scripts.mini_poem.train --data runs/mini-poem-data --work runs/mini-poem --out assets/models/mini-poem
    python -m scripts.mini_poem.train --smoke --data D --work W --out O          # seconds, for CI

(from the repository root) --data is prepare_data.py's OUT_DIR. Checkpoints go to --work every --save-every steps
(the last two are kept; scripts/trainlib.py's, a damaged one is skipped); running the same command again resumes
from the latest one, and a resumed run equals an unbroken one: a step's batch and dropout depend only on
(seed, step). When the last step is done the model folder is exported to --out: config.json, model.safetensors
(fp16 on disk), tokenizer, generation_config.json, loss.png and README.md (the model card; evaluate.py --card fills
in its evaluation section). --stop-at-step N saves and exits after step N
(to spread a run over sessions). --threads defaults to 1: another model may be training on the same machine.
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

from scripts.mini_poem import poemlib
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


# Arguments that define the run: a checkpoint made with other values is not resumed.
RUN_KEYS = ("seed", "steps", "batch", "lr", "warmup", "weight_decay", "dropout", "n_layer", "n_embd", "n_head",
            "amp", "max_poems")


def parse_args(argv=None):
    p = arguments(__doc__, work="checkpoints and logs", out="where the model folder is written",
                  smoke="a few steps of a tiny model on a few poems (CI)", threads=1, save_every=100)
    p.add_argument("--data", type=Path, required=True, help="prepare_data.py's output folder")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch", type=int, default=32, help="rows of 128 tokens per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay to 10%%)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--amp", choices=["auto", "bf16", "none"], default="auto",
                   help="bf16 autocast for the matmuls (weights and optimizer stay fp32); auto: bf16 only where the "
                        "CPU computes it natively (AVX512-BF16 / AMX), as elsewhere it is emulated and ~13x slower")
    p.add_argument("--max-poems", type=int, default=0, help="use only the first N training poems (0: all)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--stop-at-step", type=int, default=0, help="save and exit after this step (0: run to the end)")
    args = p.parse_args(argv)
    if args.amp == "auto":
        args.amp = "bf16" if native_bf16() else "none"
    if args.smoke:
        args.steps, args.batch, args.warmup, args.max_poems = 6, 4, 2, 64
        args.n_layer, args.n_embd, args.n_head = 2, 64, 2
        args.save_every, args.eval_every, args.log_every = 2, 3, 1
    args.command = command("scripts.mini_poem.train", argv)
    return args


def native_bf16() -> bool:
    """Whether this CPU does bf16 matmuls in hardware (oneDNN's own test, as torch's tests use it)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# -- model ---------------------------------------------------------------------------------------
def make_model(args, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=poemlib.CONTEXT, n_embd=args.n_embd, n_layer=args.n_layer,
        n_head=args.n_head, resid_pdrop=args.dropout, embd_pdrop=args.dropout, attn_pdrop=args.dropout,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    return GPT2LMHeadModel(config)


def autocast(args):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp == "bf16")


# -- data ----------------------------------------------------------------------------------------
class Rows:
    """Training rows: CONTEXT + 1 tokens of the packed stream (<s> poem </s> <s> poem </s> ...), each row starting
    at a poem's <s>; the order is a permutation of the poems per epoch, fixed by (seed, epoch)."""

    def __init__(self, sequences: list[list[int]], seed: int, bos_id: int):
        self.starts = np.cumsum([0] + [len(s) for s in sequences[:-1]])
        stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        reps = 1 + (poemlib.CONTEXT + 1) // len(stream)  # wrap around at the end
        self.stream = np.concatenate([stream] * (reps + 1))
        self.seed, self.bos_id, self._perms = seed, bos_id, {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.starts))}
        return self._perms[epoch]

    def batch(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.starts)
        rows = []
        for g in range(step * size, (step + 1) * size):
            start = self.starts[self._perm(g // n)[g % n]]
            rows.append(self.stream[start:start + poemlib.CONTEXT + 1])
        rows = torch.from_numpy(np.stack(rows))
        x, y = rows[:, :-1], rows[:, 1:].clone()
        y[y == self.bos_id] = -100  # the next poem's <s> is not predicted
        return x, y


# -- export --------------------------------------------------------------------------------------
def plot_losses(path: Path, state: dict, unigram: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if state["train_log"]:
        steps, losses = zip(*state["train_log"])
        ax.plot(steps, losses, lw=1, label="train (mean over logging interval)")
    if state["eval_log"]:
        steps, losses = zip(*state["eval_log"])
        ax.plot(steps, losses, "o-", ms=3, label="held-out")
    ax.axhline(unigram, color="grey", ls="--", lw=1, label=f"unigram baseline (ppl {math.exp(unigram):.0f})")
    ax.axhline(unigram - math.log(3), color="grey", ls=":", lw=1, label="target: 1/3 of unigram ppl")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy per character (nats)")
    ax.set_title("mini-poem training")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


CARD = """---
language: zh
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, character-level, poetry, tang]
---
# mini-poem · 迷你唐诗

A tiny character-level GPT-2 trained from scratch on Tang poems (全唐诗), the offline default model of AIGC
Studio's text tab. Give it the start of a poem line (one or a few characters) and it continues in lines of five
or seven characters; give it `标题：` (a title and a full-width colon) and it writes a poem under that title.

```python
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("assets/models/mini-poem")
model = AutoModelForCausalLM.from_pretrained("assets/models/mini-poem", dtype=torch.float32)
ids = tok("床前明月光", return_tensors="pt")          # <s> is added in front
torch.manual_seed(0)
out = model.generate(**ids, max_new_tokens=64, do_sample=True, temperature=0.7, top_k=0, top_p=1.0)
print(tok.decode(out[0], skip_special_tokens=True))
```

## Data

- Corpus: the Tang collection of [chinese-poetry](https://github.com/chinese-poetry/chinese-poetry) (MIT),
  {corpus_files} files `poet.tang.*.json`, sha256 of the files `{corpus_sha256}`; {poems_read} poems read.
- Converted to simplified characters with OpenCC `t2s` (opencc-python-reimplemented); editors' notes in
  brackets removed.
- Kept: poems whose lines (pieces ended by ，。？！；) are all 5 or all 7 characters, at least two lines, with no
  lost (□) or composed characters, fitting the 128-token context: {poems_kept} poems after dropping
  {dropped_not_5_or_7_char_lines} of other forms, {dropped_duplicates} duplicate bodies and {dropped_too_long} \
too long ones.
- Format of a sample: `<s>标题：句，句。句，句。</s>` for {title_percent:g}% of the poems with a short title
  (≤ 8 characters; {poems_with_title} poems), `<s>句，句。句，句。</s>` for the rest.
- Split: {eval_percent:g}% of the poems held out for evaluation, chosen by a hash of the poem body (fixed,
  independent of file order): {train_poems} training poems ({train_chars} characters), {eval_poems} held-out
  poems ({eval_chars} characters).
- Tokenizer: one token per character; the {vocab_size} tokens are the characters seen ≥ {min_count} times in
  the training split plus `<pad> <s> </s> <unk>`. Any text tokenizes: other characters become `<unk>`
  ({unk_rate_eval:.2%} of held-out characters), whitespace is dropped, ASCII punctuation becomes full-width.

## Model

`GPT2LMHeadModel`: {n_layer} layers, {n_embd} hidden, {n_head} heads, context {context} tokens, vocabulary
{vocab_size}, tied input/output embeddings, **{params:,} parameters**. Stored in fp16 (`model.safetensors`,
{weights_mb:.1f} MB); `config.json` says float32, the precision it runs in on a CPU (loading with
`dtype=torch.float32` upcasts the fp16 weights).

## Training

```bash
{prepare_command}
{train_command}
python -m scripts.mini_poem.evaluate {out} {data} --card
```

- Code: this repository at {commits} (HEAD at each start of the run; `+modified`: with uncommitted edits).
- {steps} steps of {batch} rows × {context} tokens (rows start at a poem's `<s>` and run on through the
  following poems), AdamW (β 0.9/0.95, weight decay {weight_decay} on matrices), peak learning rate {lr} with
  {warmup} warm-up steps and cosine decay to 10%, dropout {dropout}, gradient clipping 1.0,
  {precision}, seed {seed}. Deterministic: a step's batch and dropout depend only on (seed, step); checkpoints every
  {save_every} steps, and a resumed run equals an unbroken one.
- Machine: {machine}; torch {torch_version}, transformers {transformers_version}, {threads} thread(s);
  {hours:.2f} h of training.
- Final losses (nats per character): training {final_train:.3f}, held-out {final_eval:.3f}
  (perplexity {final_ppl:.1f}; the unigram baseline's is {unigram_ppl:.0f}).

![loss curve](loss.png)

## Evaluation

<!-- eval:start -->
Not evaluated yet: run `python -m scripts.mini_poem.evaluate {out} {data} --card`.
<!-- eval:end -->

## What it cannot do

- It imitates the surface of Tang verse (line lengths, punctuation, common imagery and word pairs); the
  poems rarely make sense as a whole, and it knows nothing of tonal patterns (平仄) or rhyme beyond what
  characters tend to follow others.
- It writes simplified Chinese only; traditional characters, other scripts, emoji and rare characters in a
  start become `<unk>` and lead to poorer continuations. It is not a chat model and follows no instructions.
- Context is 128 tokens: prompt plus generated text must stay within it.
- Famous poems are in the training data: starts such as 春眠不觉晓 may be continued from memory.
- It may reproduce attitudes of its historical sources.
"""


def write_card(args, state: dict, meta: dict, model, unigram: float) -> None:
    import transformers
    commits = ", ".join(f"`{c}`" for c in args.commits.split(", "))
    values = dict(meta)
    values.update(
        out=shlex.quote(str(args.out)), data=shlex.quote(str(args.data)), prepare_command=meta["command"],
        train_command=state["command"], commits=commits, params=n_params(model),
        weights_mb=(args.out / "model.safetensors").stat().st_size / 2**20, context=poemlib.CONTEXT,
        machine=machine(),
        precision="bf16 autocast (`--amp bf16`)" if args.amp == "bf16" else
        "fp32 (`--amp none`; `auto` takes bf16 autocast only on a CPU that computes bf16 natively)",
        torch_version=torch.__version__, transformers_version=transformers.__version__, threads=args.threads,
        hours=state["train_seconds"] / 3600,
        final_train=state["train_log"][-1][1] if state["train_log"] else float("nan"),
        final_eval=state["eval_log"][-1][1], final_ppl=math.exp(state["eval_log"][-1][1]),
        unigram_ppl=math.exp(unigram), **{k: state["run"][k] for k in RUN_KEYS}, save_every=args.save_every)
    (args.out / "README.md").write_text(CARD.format(**values), encoding="utf-8")


def export(args, model, tokenizer, state: dict, meta: dict, unigram: float) -> None:
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
                     pad_token_id=tokenizer.pad_token_id, do_sample=True, temperature=0.7, top_k=0, top_p=1.0,
                     max_new_tokens=64).save_pretrained(args.out)
    plot_losses(args.out / "loss.png", state, unigram)
    write_card(args, state, meta, model, unigram)
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
    torch.manual_seed(args.seed)

    tokenizer = AutoTokenizer.from_pretrained(args.data / "tokenizer")
    meta = json.loads((args.data / "meta.json").read_text(encoding="utf-8"))
    train_texts = poemlib.read_lines(args.data / "train.txt")
    if args.max_poems:
        train_texts = train_texts[:args.max_poems]
    train = poemlib.encode_poems(tokenizer, train_texts)
    held = poemlib.encode_poems(tokenizer, poemlib.read_lines(args.data / "eval.txt"))
    rows = Rows(train, args.seed, tokenizer.bos_token_id)
    unigram = poemlib.unigram_loss(train, held, len(tokenizer))

    model = make_model(args, tokenizer)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": other, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    run = {k: getattr(args, k) for k in RUN_KEYS}
    run["train_poems"], run["vocab_size"] = len(train), len(tokenizer)
    args.work.mkdir(parents=True, exist_ok=True)
    # checkpoints (trainlib's: the last two kept, a damaged one skipped): model.safetensors, optimizer, state
    state = load_checkpoint(args.work / "checkpoints", {"model": model}, optimizer, fresh=None)
    if state is None:
        state = {"step": 0, "run": run, "command": args.command, "train_log": [], "eval_log": [],
                 "train_seconds": 0.0, "started": datetime.datetime.now().isoformat(timespec="seconds")}
    elif state["run"] != run:
        diff = {k: (state["run"].get(k), v) for k, v in run.items() if state["run"].get(k) != v}
        raise SystemExit(f"{args.work} holds a run with other settings {diff}: use another --work or the same flags")
    args.commits = run_commits(args.work, ROOT)
    print(f"{n_params(model):,} parameters, {len(train)} training poems, {len(held)} held-out, vocab "
          f"{len(tokenizer)}, unigram ppl {math.exp(unigram):.1f}, threads {args.threads}", flush=True)

    model.train()
    window: list[float] = []
    session_start, tick = time.time(), time.time()
    step = state["step"]
    while step < args.steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        x, y = rows.batch(step, args.batch)
        torch.manual_seed(args.seed * 1_000_003 + step)  # dropout masks depend only on (seed, step)
        with autocast(args):
            logits = model(input_ids=x).logits
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
            lr = lr_at(step - 1, args.steps, args.lr, args.warmup)
            print(f"step {step}/{args.steps} loss {np.mean(window):.4f} lr {lr:.2e} "
                  f"{(now - tick) / len(window):.2f} s/step", flush=True)
            window, tick = [], now
        if step % args.eval_every == 0 or step == args.steps:
            state["eval_log"].append([step, poemlib.eval_loss(model, held, tokenizer.pad_token_id)])
            print(f"step {step} held-out loss {state['eval_log'][-1][1]:.4f} "
                  f"(ppl {math.exp(state['eval_log'][-1][1]):.1f})", flush=True)
        stop = bool(args.stop_at_step) and step >= args.stop_at_step
        if step % args.save_every == 0 or step == args.steps or stop:
            state["step"] = step
            state["train_seconds"] += time.time() - session_start
            session_start = time.time()
            save_checkpoint(args.work / "checkpoints", {"model": model}, optimizer, state)
            if state["train_log"]:
                plot_losses(args.work / "loss.png", state, unigram)
        if stop and step < args.steps:
            print(f"stopped after step {step} (--stop-at-step); run the same command without it to go on", flush=True)
            return state

    state["train_seconds"] += time.time() - session_start
    state["step"] = step
    if not state["eval_log"] or state["eval_log"][-1][0] != step:
        state["eval_log"].append([step, poemlib.eval_loss(model, held, tokenizer.pad_token_id)])
    export(args, model, tokenizer, state, meta, unigram)
    return state


if __name__ == "__main__":
    main()
