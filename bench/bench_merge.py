"""Merged batches (issue 39): what one device call for several learners' pictures gains over one call each, and
that each row of the merged call is its lone run.

    .venv/bin/python -m bench.bench_merge [--runs 3]            # this CPU: mini-shapes, 64 px, 20 steps
    .venv/bin/python -m bench.bench_merge --gpu [--runs 3]      # CUDA: SD 1.5 random weights, 512 px, fp16, 25 steps
    .venv/bin/python -m bench.bench_merge --gpu --dry-run       # the GPU script checked on a CPU (64 px, 2 steps)

For batch 1 / 4 / 8: B learners' pictures (each its own prompt and seed, the same settings) as one engine call
(`studio.image.engine.run_units`, what the scheduler's merged call runs) against the same B pictures one call each:
seconds and images per second both ways (median of --runs), the speed-up, peak GPU memory of the merged call, and
the largest pixel difference between a merged row and its lone run. The GPU form builds SD 1.5 with random weights
from the real config (bench_gpu.random_pipeline): the same compute as the released model, nothing downloaded.
Record the output in bench/RESULTS.md with the machine (the GPU's name is printed) and the date.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from studio.core import config
from studio.core.manager import manager
from studio.image.api import image_job
from studio.image.engine import Unit, run, run_units


PROMPTS = ("a red circle", "a blue square on the left", "a green triangle", "a yellow star, large",
           "a white circle on a black background", "a small purple square", "an orange star on the right",
           "a black triangle, small")
SAMPLER = "DPM++ 2M Karras"


def jobs(model: str, size: int, steps: int, batch: int) -> list:
    """B learners' one-picture jobs: their own prompts and seeds, everything else alike (one merge key)."""
    return [image_job(PROMPTS[i % len(PROMPTS)], "", model, SAMPLER, steps, 7, 100 + i, size, size, 1, "cpu",
                          "en", []) for i in range(batch)]


def timed(fn, cuda: bool) -> tuple[float, object]:
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def measure(model: str, size: int, steps: int, batch: int, runs: int, cuda: bool) -> dict:
    pipe = manager().get(model)
    todo = jobs(model, size, steps, batch)
    run_units(pipe, [Unit(j) for j in todo[:1]])  # warm-up
    merged_s, alone_s = [], []
    for _ in range(runs):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        seconds, merged = timed(lambda: run_units(pipe, [Unit(j) for j in todo]), cuda)
        merged_s.append(seconds)
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        seconds, alone = timed(lambda: [run(pipe, j) for j in todo], cuda)
        alone_s.append(seconds)
    diff = max(int(np.abs(np.asarray(m[0], dtype=int) - np.asarray(a[0], dtype=int)).max())
               for m, a in zip(merged, alone))
    m, a = statistics.median(merged_s), statistics.median(alone_s)
    return dict(batch=batch, merged=m, alone=a, speedup=a / m, peak=peak, diff=diff)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--gpu", action="store_true", help="SD 1.5 random weights on CUDA (512 px, fp16, 25 steps)")
    p.add_argument("--dry-run", action="store_true", help="with --gpu: on the CPU, 64 px, 2 steps, 1 run")
    args = p.parse_args()
    cuda = args.gpu and not args.dry_run
    if cuda and not torch.cuda.is_available():
        raise SystemExit("bench_merge.py --gpu needs a CUDA GPU (or --dry-run)")
    root = Path(tempfile.mkdtemp())
    env = {"STUDIO_OUTPUT_DIR": str(root / "out"), "STUDIO_HUB": "local"}
    if args.gpu:
        from bench.bench_gpu import random_pipeline
        env.update(STUDIO_MODEL_DIRS=str(root), STUDIO_DEVICE="cuda" if cuda else "cpu")
        config.configure([], env=env)
        random_pipeline("sd15", root / "random-sd15", "cuda" if cuda else "cpu")
        model, size, steps, runs = "random-sd15", (512 if cuda else 64), (25 if cuda else 2), (args.runs if cuda else 1)
    else:
        config.configure([], env=env)
        model, size, steps, runs = "mini-shapes", 64, 20, args.runs
    name = torch.cuda.get_device_name(0) if cuda else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"device: {name}; torch {torch.__version__}; {model} {size} px, {steps} steps, {SAMPLER}, CFG 7; "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    print("| learners in one call | merged call s | one call each s | images/s merged | images/s one each | "
          "speed-up | peak GPU memory | max pixel diff, row vs lone |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in (1, 4, 8):
        r = measure(model, size, steps, batch, runs, cuda)
        peak = f"{r['peak']:.2f} GB" if cuda else "—"
        print(f"| {batch} | {r['merged']:.3f} | {r['alone']:.3f} | {batch / r['merged']:.2f} "
              f"| {batch / r['alone']:.2f} | {r['speedup']:.2f}x | {peak} | {r['diff']} |", flush=True)


if __name__ == "__main__":
    main()
