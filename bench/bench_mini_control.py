"""A drawn star painted by mini-shapes with its mini ControlNet, through the studio (what 生成 runs): the page's
512 px canvas with a 12 px pen, the mini-shapes defaults (20 steps, CFG 7, 64x64), warm models, PNG saving
excluded; paired with the same picture without the control, at 1 and 2 torch threads.

    .venv/bin/python -m bench.bench_mini_control
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args(argv)
    import torch

    from scripts.mini_control import data
    from studio import api
    from studio.core.config import configure
    configure([], env={"STUDIO_HUB": "local"})
    star = data.Scene("star", "yellow", "blue", 0.35, 0.6, 0.45)
    unit = {"kind": "scribble", "image": data.drawing(star, random.Random(0), 512, 12)}
    prompt = "蓝色背景上的黄色的图形"

    def seconds(controls) -> float:
        started = time.perf_counter()
        api.generate_image(prompt, seed=7, controls=controls, save=False)
        return time.perf_counter() - started

    seconds([unit])  # loads both models, first-call costs
    print(f"load average at start {os.getloadavg()[0]:.2f}; {os.environ.get('OMP_WAIT_POLICY', 'default')} OpenMP "
          f"wait policy")
    print("| torch threads | with the drawn star, median | mini-shapes alone, median | ratio |")
    print("|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        controlled, plain = [], []
        for _ in range(args.runs):  # paired, alternating
            controlled.append(seconds([unit]))
            plain.append(seconds(None))
        c, b = statistics.median(controlled), statistics.median(plain)
        print(f"| {threads} | {c:.3f} s | {b:.3f} s | {c / b:.2f} |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
