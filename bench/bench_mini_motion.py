"""mini-motion speed on this CPU: load time through the studio's loader, and 16 frames (the issue's figure) and
8 frames (its trained length) of 64x64 at 20 steps, guidance 7 (warm model, 2 threads, batch 1, VAE decode
included, video encoding excluded), with the part spent in the VAE decode (AnimateDiffPipeline, trained by
scripts/mini_motion/train.py).

    .venv/bin/python -m bench.bench_mini_motion [MODEL_FOLDER]      # default: assets/models/mini-motion
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch


ROOT = Path(__file__).resolve().parent.parent


def main(folder: Path = ROOT / "assets" / "models" / "mini-motion", runs: int = 10) -> None:
    torch.set_num_threads(2)
    from studio.core import loaders
    from studio.core.config import configure
    from studio.core.specs import ModelSpec
    configure([], env={"STUDIO_HUB": "local"})
    spec = ModelSpec("mini-motion", "video", "animatediff", None, folder)
    loaders.load(spec, "cpu")  # imports and first-call costs
    started = time.perf_counter()
    pipe = loaders.load(spec, "cpu")
    load_s = time.perf_counter() - started
    print(f"| mini-motion load (from disk, warm imports) | {load_s:.2f} s |")
    for frames in (16, 8):
        total, decode = _time(pipe, frames, runs)
        print(f"| mini-motion {frames} frames 64x64, 20 steps, CFG 7, batch 1 (median of {runs}) "
              f"| {statistics.median(total):.3f} s |")
        print(f"| of which VAE decode | {statistics.median(decode):.3f} s |")


def _time(pipe, frames: int, runs: int) -> tuple[list[float], list[float]]:
    prompt = "蓝色背景上的红色圆形从左向右移动"
    args = dict(num_frames=frames, height=64, width=64, num_inference_steps=20, guidance_scale=7.0)
    pipe(prompt, output_type="np", **args)  # warm up
    total, decode = [], []
    for i in range(runs):
        g = torch.Generator("cpu").manual_seed(i)
        t0 = time.perf_counter()
        latents = pipe(prompt, output_type="latent", generator=g, **args).frames
        t1 = time.perf_counter()
        with torch.no_grad():  # what AnimateDiffPipeline does after the last step
            video = pipe.decode_latents(latents)
            pipe.video_processor.postprocess_video(video, output_type="np")
        t2 = time.perf_counter()
        total.append(t2 - t0)
        decode.append(t2 - t1)
    return total, decode


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
