"""mini-motion speed on this CPU: load time through the studio's loader, and 17 frames of 64x64 at 20 steps,
guidance 5 (warm model, 2 threads, batch 1, VAE decode included, video encoding excluded), with the part
spent in the VAE decode.

    .venv/bin/python bench/bench_mini_motion.py [MODEL_FOLDER]      # default: assets/models/mini-motion
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(folder: Path = ROOT / "assets" / "models" / "mini-motion", runs: int = 10) -> None:
    torch.set_num_threads(2)
    from studio import loaders
    from studio.config import configure
    from studio.models import ModelSpec
    configure([], env={"STUDIO_HUB": "local"})
    spec = ModelSpec("mini-motion", "video", "wan", None, folder)
    loaders.load(spec, "cpu")  # imports and first-call costs
    started = time.perf_counter()
    pipe = loaders.load(spec, "cpu")
    load_s = time.perf_counter() - started
    prompt = "蓝色背景上的红色圆形从左向右移动"
    args = dict(num_frames=17, height=64, width=64, num_inference_steps=20, guidance_scale=5.0)
    pipe(prompt, output_type="np", **args)  # warm up
    total, decode = [], []
    for i in range(runs):
        g = torch.Generator("cpu").manual_seed(i)
        t0 = time.perf_counter()
        latents = pipe(prompt, output_type="latent", generator=g, **args).frames
        t1 = time.perf_counter()
        with torch.no_grad():
            mean = torch.tensor(pipe.vae.config.latents_mean).view(1, -1, 1, 1, 1)
            std = torch.tensor(pipe.vae.config.latents_std).view(1, -1, 1, 1, 1)
            video = pipe.vae.decode(latents * std + mean).sample  # what WanPipeline does after the last step
            pipe.video_processor.postprocess_video(video, output_type="np")
        t2 = time.perf_counter()
        total.append(t2 - t0)
        decode.append(t2 - t1)
    print(f"| mini-motion load (from disk, warm imports) | {load_s:.2f} s |")
    print(f"| mini-motion 17 frames 64x64, 20 steps, CFG 5, batch 1 (median of {runs}) "
          f"| {statistics.median(total):.3f} s |")
    print(f"| of which VAE decode | {statistics.median(decode):.3f} s |")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:2]))
