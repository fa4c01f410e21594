"""mini-shapes speed on this CPU: load time, and 20 steps at batch 1 (warm model, 2 threads, VAE decode
included, PNG saving excluded), through the studio and as a bare diffusers call on the same pipeline.

    .venv/bin/python -m bench.bench_mini_shapes
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch


ROOT = Path(__file__).resolve().parent.parent


def main(runs: int = 20) -> None:
    torch.set_num_threads(2)
    from studio import api
    from studio.core.config import configure
    from studio.core.manager import manager
    from studio.image.samplers import make_scheduler
    configure([], env={"STUDIO_HUB": "local"})
    api.generate_image("warm up", seed=0, save=False)  # imports and first-call costs
    api.unload("mini-shapes")
    started = time.perf_counter()
    api.load("mini-shapes")
    load_s = time.perf_counter() - started
    prompt = "蓝色背景上的一个大红色圆形，在左边"
    studio, bare = [], []
    pipe = manager().get("mini-shapes")
    for i in range(runs):  # paired runs, alternating order
        t0 = time.perf_counter()
        api.generate_image(prompt, seed=i, steps=20, cfg_scale=7, sampler="DPM++ 2M Karras", save=False)
        studio.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pipe.scheduler = make_scheduler("DPM++ 2M Karras", pipe.scheduler.config)
        pipe(prompt, num_inference_steps=20, guidance_scale=7, width=64, height=64,
             generator=torch.Generator("cpu").manual_seed(i))
        bare.append(time.perf_counter() - t0)
    ratio = statistics.median(s / b for s, b in zip(studio, bare))
    print(f"| mini-shapes load (from disk, warm imports) | {load_s:.2f} s |")
    print(f"| mini-shapes 20 steps, batch 1, 64x64, CFG 7 (studio, median of {runs}) | "
          f"{statistics.median(studio):.3f} s |")
    print(f"| same, bare diffusers call on the same pipeline | {statistics.median(bare):.3f} s |")
    print(f"| studio / bare (median of paired ratios) | {ratio:.3f} |")


if __name__ == "__main__":
    main()
