"""GPU benchmark: SD 1.5 and SDXL with random weights built from the real configs (same compute as the released
models, nothing to download), through the studio and through a bare diffusers call on the same pipeline.

    .venv/bin/python -m bench.bench_gpu [--runs 5]      # needs CUDA; prints Markdown tables
    .venv/bin/python -m bench.bench_gpu --dry-run       # CPU, 64 px, 2 steps: checks the script, not the speed

1. Per architecture at its native size (SD 1.5 at 512, SDXL at 1024; fp16, 25 steps, DPM++ 2M Karras, CFG 7):
   load time, seconds per image through the studio and bare, studio / bare (median of paired ratios; the pair's
   order alternates), the studio's time outside its pipeline call, whether the paired images are the same
   pixels, peak GPU memory.
2. Model switch under a memory budget that fits one of the two but not both: seconds for the manager to hand
   back the other model, with evicted models dropped (reload from disk) and parked in CPU RAM
   (STUDIO_PARK_ON_CPU).
3. The 优化实验 (studio.api.optimisation_experiment) on SD 1.5: A (FP32) against B (FP16, SDPA, VAE slicing,
   CPU offload) on the GPU.
Record the output in bench/RESULTS.md with the GPU and the date.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_overhead import paired
from studio import api
from studio.core import config
from studio.core.manager import ModelManager, manager, reset_manager
from studio.image.samplers import make_scheduler


ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "assets" / "pipelines"
api_image = importlib.import_module("studio.image.api")  # where generate_image looks up the engine's run_units()
PROMPT = "a photo of a cat"
SAMPLER = "DPM++ 2M Karras"


class Device:
    """CUDA timing and memory counters, or their CPU stand-ins for --dry-run."""

    def __init__(self, name: str):
        self.name, self.cuda = name, name == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_gb(self) -> float:
        return torch.cuda.max_memory_allocated() / 2**30 if self.cuda else float("nan")


def random_pipeline(kind: str, folder: Path, device: str) -> Path:
    """The architecture's pipeline with random weights, saved as a folder the studio loads like a download.
    Built on `device`: initialising SDXL's 2.6 B parameters on the GPU takes seconds, on a CPU minutes."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    src = CONFIGS / kind
    with torch.device(device):
        unet = diffusers.UNet2DConditionModel.from_config(diffusers.UNet2DConditionModel.load_config(src / "unet"))
        vae = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(src / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(src / "text_encoder"))
        text_2 = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(src / "text_encoder_2")) \
            if kind == "sdxl" else None
    scheduler = diffusers.EulerDiscreteScheduler.from_pretrained(src / "scheduler")
    tokenizer = CLIPTokenizer.from_pretrained(src / "tokenizer")
    if kind == "sd15":
        pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                                 scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                                 requires_safety_checker=False)
    else:
        pipe = diffusers.StableDiffusionXLPipeline(
            vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer,
            tokenizer_2=CLIPTokenizer.from_pretrained(src / "tokenizer_2"), unet=unet, scheduler=scheduler)
    pipe.to(torch.float16).save_pretrained(folder)
    return folder


def bench(model: str, size: int, steps: int, runs: int, dev: Device) -> dict:
    started = time.perf_counter()
    row = api.load(model)
    load = time.perf_counter() - started
    pipe = manager().get(model)  # the same resident pipeline the studio uses
    kw = dict(model=model, sampler=SAMPLER, steps=steps, cfg_scale=7, width=size, height=size, save=False)
    engine_run, inside, outside, images = api_image.run_units, [], [], {}

    def timed_run(*a, **k):  # the engine's pipeline call inside generate_image; the rest is studio overhead
        t0 = time.perf_counter()
        try:
            return engine_run(*a, **k)
        finally:
            dev.sync()
            inside.append(time.perf_counter() - t0)

    def ours(i):
        t0 = time.perf_counter()
        images["studio", i] = api.generate_image(PROMPT, seed=i, **kw).images[0]
        dev.sync()
        outside.append(time.perf_counter() - t0 - inside[-1])

    def theirs(i):
        pipe.scheduler = make_scheduler(SAMPLER, pipe.scheduler.config)
        images["bare", i] = pipe(PROMPT, num_inference_steps=steps, guidance_scale=7, width=size, height=size,
                                 generator=torch.Generator("cpu").manual_seed(i)).images[0]
        dev.sync()

    api_image.run_units = timed_run
    try:
        ours(0), theirs(0)  # warm-up both paths
        dev.reset_peak()
        outside.clear()
        studio, bare, ratio = paired(ours, theirs, runs)
    finally:
        api_image.run_units = engine_run
    same = sum(np.array_equal(np.asarray(images["studio", i].convert("RGB")),
                              np.asarray(images["bare", i].convert("RGB"))) for i in range(runs))
    return {"load": load, "studio": studio, "bare": bare, "ratio": ratio, "same": f"{same}/{runs}",
            "outside_ms": 1000 * statistics.median(outside), "peak_gb": dev.peak_gb(),
            "gb": row.get("bytes", 0) / 2**30, "dtype": str(pipe.unet.dtype)}


def switch(models: list[str], env: dict, park: bool, budget: int, dev: Device, rounds: int) -> dict:
    """Alternate between the models under a budget that holds one: each get() evicts the other."""
    config.configure([], env={**env, "STUDIO_PARK_ON_CPU": "1" if park else "0"})
    budgets = {"cuda": budget, "cpu": budget * 4} if dev.cuda else {"cpu": budget}  # RAM for parked models
    m = reset_manager(ModelManager(budgets=budgets))
    for model in models:  # first loads: not switches
        m.get(model)
    times = {model: [] for model in models}
    for _ in range(rounds):
        for model in models:
            t0 = time.perf_counter()
            m.get(model)
            dev.sync()
            times[model].append(time.perf_counter() - t0)
    on_gpu = [Path(row["key"]).name for row in m.status()["loaded"] if str(row.get("device", "")).startswith(dev.name)]
    m.unload_all()
    loads = {Path(k).name: n for k, n in m.load_count.items()}
    return {"times": {k: statistics.median(v) for k, v in times.items()}, "loads": loads,
            "resident_at_end": on_gpu}


def report_bench(results: dict, steps: int) -> None:
    print("\n| model | size | load | studio s/image (it/s) | bare s/image (it/s) | studio / bare | "
          "studio outside the pipeline call | same pixels | peak GPU memory | weights |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (model, size), r in results.items():
        print(f"| {model} ({r['dtype']}, {steps} steps) | {size} | {r['load']:.1f} s | "
              f"{r['studio']:.3f} ({steps / r['studio']:.1f}) | {r['bare']:.3f} ({steps / r['bare']:.1f}) | "
              f"{r['ratio']:.3f} | {r['outside_ms']:.1f} ms | {r['same']} | {r['peak_gb']:.1f} GB | {r['gb']:.2f} GB |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--dry-run", action="store_true", help="CPU, 64 px, 2 steps, 1 run: checks the script")
    args = p.parse_args()
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU (or --dry-run)")
    dev = Device("cpu" if dry else "cuda")
    steps, runs = (2, 1) if dry else (25, args.runs)
    sizes = {"sd15": 64, "sdxl": 64} if dry else {"sd15": 512, "sdxl": 1024}
    root = Path(tempfile.mkdtemp())
    env = {"STUDIO_MODEL_DIRS": str(root), "STUDIO_OUTPUT_DIR": str(root / "out"), "STUDIO_HUB": "local",
           "STUDIO_DEVICE": dev.name, "STUDIO_MAX_PIXELS": str(1024 * 1024)}
    if dry:  # SDXL in FP32 is 13 GB, over the CPU's default budget (60% of free RAM)
        env["STUDIO_MEMORY_BUDGET"] = "20GB"
    config.configure([], env=env)
    name = torch.cuda.get_device_name(0) if dev.cuda else "CPU (dry run)"
    print(f"device: {name}; torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    models = []
    for kind in sizes:
        t0 = time.perf_counter()
        random_pipeline(kind, root / f"random-{kind}", dev.name)
        models.append(f"random-{kind}")
        print(f"built random {kind} in {time.perf_counter() - t0:.1f} s", flush=True)
        if dev.cuda:
            torch.cuda.empty_cache()

    results = {}
    for model, size in zip(models, sizes.values()):
        results[(model, size)] = bench(model, size, steps, runs, dev)
        print(f"{model}: {results[(model, size)]}", flush=True)
        api.unload_all()
    report_bench(results, steps)

    gbs = [r["gb"] for r in results.values()]
    budget = int(max(gbs) * 1.2 * 2**30)  # one fits, both (sum) do not
    assert budget < sum(gbs) * 2**30, "the switch budget must not hold both models"
    print(f"\nModel switch, budget {budget / 2**30:.2f} GB (holds one: {', '.join(f'{g:.2f}' for g in gbs)} GB):")
    print("| evicted model | " + " | ".join(f"switch to {m}" for m in models) + " | loads | resident at end |")
    print("|---|" + "---|" * (len(models) + 2))
    for park in (False, True) if dev.cuda else (False,):
        r = switch(models, env, park, budget, dev, rounds=1 if dry else 3)
        label = "parked in CPU RAM" if park else "dropped (reload from disk)"
        print(f"| {label} | " + " | ".join(f"{r['times'][m]:.2f} s" for m in models)
              + f" | {r['loads']} | {r['resident_at_end']} |", flush=True)
    config.configure([], env=env)
    reset_manager()

    try:  # 优化实验 on the GPU: the arm B path (fp16, SDPA, VAE slicing, offload) only a GPU exercises
        out = api.optimisation_experiment(PROMPT, model=models[0], steps=steps, seed=0, width=sizes["sd15"],
                                          height=sizes["sd15"], cpu_offload=True)
        print(f"\n优化实验 ({models[0]}, {steps} steps, device {out['device']}):")
        print("| arm | dtype | attention | VAE slicing | CPU offload | load s | run s | peak MB |")
        print("|---|---|---|---|---|---|---|---|")
        for row in out["rows"]:
            print(f"| {row['arm']} | {row['dtype']} | {row['attention']} | {row['vae_slicing']} | "
                  f"{row['cpu_offload']} | {row['load_s']} | {row['run_s']} | {row['peak_mb']} |")
        print("notices:", out["notices"])
    except Exception as exc:  # a bench run reports, then goes on
        print(f"optimisation experiment failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
