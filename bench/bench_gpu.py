"""GPU benchmark: SD 1.5 and SDXL with random weights built from the real configs (same compute as the released
models, nothing to download), through the studio and through a bare diffusers call on the same pipeline.

    .venv/bin/python bench/bench_gpu.py [--runs 5]      # needs CUDA; prints Markdown rows

For each architecture: load (from configs, fp16), seconds per image at its native size (25 steps, DPM++ 2M Karras,
CFG 7), studio / bare (median of paired ratios), peak GPU memory. Record results in bench/RESULTS.md with the GPU.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio import api, config  # noqa: E402
from studio.manager import manager  # noqa: E402
from studio.samplers import make_scheduler  # noqa: E402

CONFIGS = ROOT / "assets" / "pipelines"


def random_pipeline(kind: str, folder: Path) -> Path:
    """The architecture's pipeline with random weights, saved as a folder the studio loads like a download."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    src = CONFIGS / kind
    unet = diffusers.UNet2DConditionModel.from_config(diffusers.UNet2DConditionModel.load_config(src / "unet"))
    vae = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(src / "vae"))
    scheduler = diffusers.EulerDiscreteScheduler.from_pretrained(src / "scheduler")
    if kind == "sd15":
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(src / "text_encoder"))
        pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=CLIPTokenizer.from_pretrained(
            src / "tokenizer"), unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False)
    else:
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(src / "text_encoder"))
        text_2 = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(src / "text_encoder_2"))
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=CLIPTokenizer.from_pretrained(src / "tokenizer"),
            tokenizer_2=CLIPTokenizer.from_pretrained(src / "tokenizer_2"), unet=unet, scheduler=scheduler)
    pipe.to(torch.float16).save_pretrained(folder)
    return folder


def bench(kind: str, size: int, runs: int, root: Path) -> dict:
    random_pipeline(kind, root / f"random-{kind}")
    model = f"random-{kind}"
    started = time.perf_counter()
    api.load(model)
    load = time.perf_counter() - started
    pipe = manager().get(model)  # the same resident pipeline the studio uses
    kw = dict(model=model, sampler="DPM++ 2M Karras", steps=25, cfg_scale=7, width=size, height=size, save=False)
    api.generate_image("a photo of a cat", seed=0, **kw)  # warm-up
    torch.cuda.reset_peak_memory_stats()
    studio, bare = [], []
    for i in range(runs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        api.generate_image("a photo of a cat", seed=i, **kw)
        torch.cuda.synchronize()
        studio.append(time.perf_counter() - t0)
        pipe.scheduler = make_scheduler("DPM++ 2M Karras", pipe.scheduler.config)
        t0 = time.perf_counter()
        pipe("a photo of a cat", num_inference_steps=25, guidance_scale=7, width=size, height=size,
             generator=torch.Generator("cpu").manual_seed(i))
        torch.cuda.synchronize()
        bare.append(time.perf_counter() - t0)
    return {"kind": kind, "size": size, "load": load, "studio": statistics.median(studio),
            "bare": statistics.median(bare), "ratio": statistics.median(s / b for s, b in zip(studio, bare)),
            "peak_gb": torch.cuda.max_memory_allocated() / 2**30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU")
    root = Path(tempfile.mkdtemp())
    config.configure([], env={"STUDIO_MODEL_DIRS": str(root), "STUDIO_OUTPUT_DIR": str(root / "out"),
                              "STUDIO_HUB": "local", "STUDIO_MAX_PIXELS": str(1024 * 1024)})
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    print("| model | size | load | studio s/image | bare s/image | studio / bare | peak GPU memory |")
    print("|---|---|---|---|---|---|---|")
    for kind, size in (("sd15", 512), ("sdxl", 1024)):
        r = bench(kind, size, args.runs, root)
        print(f"| {kind} (random weights) | {size} | {r['load']:.1f} s | {r['studio']:.2f} | {r['bare']:.2f} | "
              f"{r['ratio']:.3f} | {r['peak_gb']:.1f} GB |")
        api.unload_all()


if __name__ == "__main__":
    main()
