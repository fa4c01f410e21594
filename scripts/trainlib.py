"""Pieces the mini-model training scripts share: the arguments every one takes and the command that records a
run, seeded per-step randomness, the learning-rate schedule, the optimizer step with EMA, the training loop with its
resumable checkpoints (a damaged one is skipped), the diffusion loss pieces, the naming loss on a text encoder, the
log and the loss plot. The scripts run as modules from the repository root: `python -m scripts.mini_shapes.train`.

A step's randomness depends only on (seed, stage, step), and checkpoints hold weights, optimizer and
losses, so a run that is killed and started again with the same command equals an unbroken one.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


ROOT = Path(__file__).resolve().parents[1]


def arguments(doc: str, *, work: str, out: str, smoke: str, threads: int = 2,
              save_every: int = 250) -> argparse.ArgumentParser:
    """A parser with the arguments every training script takes (--work, --out, --seed, --threads, --save-every,
    --smoke); the script adds its own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help=work)
    p.add_argument("--out", type=Path, required=True, help=out)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=threads, help="torch.set_num_threads")
    p.add_argument("--save-every", type=int, default=save_every, help="steps between checkpoints")
    p.add_argument("--smoke", action="store_true", help=smoke)
    return p


def command(module: str, argv=None) -> str:
    """The command that ran a script, for its record and model card: "python -m scripts.mini_shapes.train ARGS"
    (under -m, sys.argv[0] is the file's path, which says neither how to run it nor from where)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", "-m", module, *(shlex.quote(str(a)) for a in args)])


def n_params(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())  # tied weights counted once per module


def step_generator(seed: int, stage: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + stage * 100_000_007 + step)


def lr_at(step: int, total: int, base: float, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to 10% of `base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)


def optimise(optimizer, loss: torch.Tensor, params: list, lr: float, step: int, ema_pairs: list) -> None:
    """One optimizer step at this learning rate, gradients clipped to norm 1, then each (ema, model) pair's EMA
    copy follows, with a decay that grows from 0.1 to 0.999 so that the early copy is not stuck at the init."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    decay = min(0.999, (1 + step) / (10 + step))
    for ema, model in ema_pairs:
        ema_update(ema, model, decay)


# -- diffusion --------------------------------------------------------------------------------------
def timesteps(g: torch.Generator, n: int, total: int, high_share: float) -> torch.Tensor:
    """Uniform timesteps, except that a share of the batch is drawn from the noisiest fifth.
    Below t ~ 950 the SD 1.5 schedule leaves the layout readable in x_t, so a uniform draw gives the UNet little
    reason to take position and shape from the prompt: it read them from the (random) noise at sampling time."""
    t = torch.randint(0, total, (n,), generator=g)
    high = torch.randint(int(total * 0.8), total, (n,), generator=g)
    return torch.where(torch.rand(n, generator=g) < high_share, high, t)


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, fg_weight: float) -> torch.Tensor:
    """MSE with the cells of `mask` (the object's) weighted 1 + fg_weight."""
    weight = 1.0 + fg_weight * mask
    return (weight * (pred - target).pow(2)).sum() / (weight.sum() * pred.shape[1])


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    """CLIP token ids, padded to the tokenizer's length."""
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


def naming_head(text_encoder, labels: list) -> torch.nn.Linear:
    """A linear classifier on a text encoder's pooled output, for an auxiliary naming loss. Trained jointly with
    the denoiser, a from-scratch encoder can merge words the denoiser cannot use yet (circle and square; left and
    right), and then the denoiser never can. Asking the encoder to name them keeps them apart. Dropped at export."""
    torch.manual_seed(0)
    return torch.nn.Linear(text_encoder.config.hidden_size, len(labels))


def naming_loss(head: torch.nn.Module, pooled: torch.Tensor, labels: list, named: list) -> torch.Tensor:
    """Cross-entropy of the head's guess against what each caption names (an entry of `labels`, None for none)."""
    return torch.nn.functional.cross_entropy(head(pooled), torch.tensor([labels.index(n) for n in named]))


def run_commits(work: Path, repo: Path) -> str:
    """The commits that trained the run in `work`, as "1234567890ab, ba0987654321+modified": HEAD at each start
    that found a new one, marked when a tracked file had uncommitted changes. Call it when the script starts: HEAD
    at export alone would hide the code that trained the checkpoints a resumed run started from."""
    def git(*cmd):
        try:
            return subprocess.run(["git", *cmd], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    edited = git("status", "--porcelain", "--untracked-files=no")
    now = (git("rev-parse", "HEAD")[:12] or "unknown") + ("+modified" if edited else "")
    path = work / "commits.json"
    commits = json.loads(path.read_text()) if path.is_file() else []
    if commits[-1:] != [now]:
        commits.append(now)
        path.write_text(json.dumps(commits))
    return ", ".join(commits)


def machine() -> str:
    """The CPU's model name, architecture and vector unit ("AMD EPYC 7B13, x86_64, AVX2"): a training time means
    little without it (bf16 and AVX512 change a step's time several-fold)."""
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {platform.machine()}, {torch.backends.cpu.get_cpu_capability()}"


def short_commits(commits: str) -> str:
    """A record's commits with 12-character hashes (records before run_commits hold one 40-character hash)."""
    return ", ".join(c[:12] for c in commits.split(", "))


def log(work: Path, text: str) -> None:
    print(text, flush=True)
    with open(work / "train.log", "a", encoding="utf-8") as f:
        f.write(text + "\n")


def save_checkpoint(folder: Path, modules: dict, optimizer, state: dict) -> None:
    """folder/step-NNNNNN, written under a temporary name and renamed: a killed run leaves the last whole one."""
    from safetensors.torch import save_model
    final = folder / f"step-{state['step']:06d}"
    tmp = folder / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, module in modules.items():
        save_model(module, str(tmp / f"{name}.safetensors"))  # handles shared (tied) tensors
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(folder.glob("step-*"))[:-2]:  # keep two, in case the last is damaged
        shutil.rmtree(old)


FRESH = object()


def load_checkpoint(folder: Path, modules: dict, optimizer, fresh=FRESH) -> dict | None:
    """The state of the latest whole checkpoint (weights and optimizer loaded in place). A damaged one (a file
    missing or unreadable) is skipped for the one before; with none, `fresh` (default: step 0, no losses)."""
    from safetensors.torch import load_model
    for checkpoint in sorted(folder.glob("step-*"), reverse=True):
        if checkpoint.name.endswith(".tmp") or not (checkpoint / "state.json").is_file():
            continue
        try:
            state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
            for name, module in modules.items():
                load_model(module, str(checkpoint / f"{name}.safetensors"))
            optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))  # our own file
        except Exception as exc:  # a damaged checkpoint: try the one before
            print(f"skipping {checkpoint}: {exc}", flush=True)
            continue
        print(f"resuming from {checkpoint} (step {state['step']})", flush=True)
        return state
    return {"step": 0, "losses": [], "seconds": 0.0} if fresh is FRESH else fresh


def run_steps(args, name: str, total: int, folder: Path, modules: dict, optimizer, step_fn) -> dict:
    """The shared loop: resume, step (step_fn(step) -> loss), checkpoint every args.save_every steps, log the
    mean loss and s/step to args.work's train.log."""
    state = load_checkpoint(folder, modules, optimizer)
    tick, window = time.time(), []
    while state["step"] < total:
        step = state["step"]
        loss = step_fn(step)
        state["losses"].append(loss)
        window.append(loss)
        state["step"] = step + 1
        if state["step"] % args.save_every == 0 or state["step"] == total:
            now = time.time()
            state["seconds"] += now - tick
            save_checkpoint(folder, modules, optimizer, state)
            log(args.work, f"{name} step {state['step']}/{total} loss {np.mean(window):.4f} "
                           f"{(now - tick) / len(window):.2f} s/step ({state['seconds']:.0f} s)")
            tick, window = time.time(), []
    return state


def plot_losses(path: Path, curves: list[tuple[list[float], str]]) -> None:
    """One log-scale panel per (losses, title), smoothed over 1% of the run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = [(losses, title) for losses, title in curves if len(losses)]  # a stage run for 0 steps has none
    if not curves:
        return
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.2), squeeze=False)
    for ax, (losses, title) in zip(axes[0], curves):
        window = max(1, len(losses) // 100)
        ax.plot(np.convolve(losses, np.ones(window) / window, mode="valid"))
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_readable(folder: Path) -> None:
    """Folders 0755, files 0644: safetensors writes 0600, which a server running as another user cannot read."""
    for f in folder.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
