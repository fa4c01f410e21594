"""优化实验 (the course's experiment A vs B): the same prompt and seed on two loads of the same model.

A: FP32, the classic attention processor, no VAE slicing.  B: FP16 on a GPU (a CPU keeps FP32: its half
precision is slower, not faster), PyTorch SDPA attention (xformers when installed on CUDA), VAE slicing, and
CPU offload when asked (CUDA only). Each load is measured: load time, generation time, peak memory.

The public call: optimisation_experiment.
"""
from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

import psutil
import torch
from PIL import Image

from studio.core.calls import caller_lang, check_stop, task_spec
from studio.core.device import pick_device
from studio.core.i18n import t
from studio.core.manager import manager
from studio.image.api import image_job
from studio.image.samplers import make_scheduler


@dataclass
class Arm:
    name: str
    dtype: str
    attention: str
    vae_slicing: bool
    cpu_offload: bool
    load_s: float = 0.0
    run_s: float = 0.0
    peak_bytes: int = 0
    image: Image.Image | None = None


class PeakMemory:
    """Peak GPU memory (torch's counter) or, on a CPU, the process's peak resident memory above its start."""

    def __init__(self, device: str):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def __enter__(self):
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self):
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss - self.base)
            time.sleep(0.01)

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, psutil.Process().memory_info().rss - self.base)


def arms(device: str, cpu_offload: bool) -> list[Arm]:
    cuda = device.startswith("cuda")
    return [Arm("A", "float32", "classic", False, False),
            Arm("B", "float16" if cuda else "float32", "sdpa", True, cpu_offload and cuda)]


def run_arm(arm: Arm, load, generate, device: str) -> Arm:
    """load(arm) -> pipeline; generate(pipe) -> image. Memory is freed after the arm."""
    gc.collect()
    with PeakMemory(device) as memory:
        started = time.perf_counter()
        pipe = load(arm)
        arm.load_s = time.perf_counter() - started
        started = time.perf_counter()
        arm.image = generate(pipe)
        arm.run_s = time.perf_counter() - started
    arm.peak_bytes = memory.peak
    del pipe
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return arm


def configure(pipe, arm: Arm, device: str) -> None:
    """Arm A's classic attention, or B's SDPA / xformers, slicing and offload."""
    from diffusers.models.attention_processor import AttnProcessor
    if arm.attention == "classic":
        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
    elif device.startswith("cuda"):
        try:
            pipe.enable_xformers_memory_efficient_attention()
            arm.attention = "xformers"
        except Exception:  # not installed: SDPA is already the default processor
            pass
    if arm.vae_slicing:
        pipe.vae.enable_slicing()
    if arm.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)


# ---- 优化实验 A vs B on one model: the same prompt and seed, two loads, measured. ----
def optimisation_experiment(prompt: str = "", model: str = "mini-shapes", steps: int | None = None,
                            seed: int = -1, width: int | None = None, height: int | None = None,
                            cpu_offload: bool = False, *, lang: str | None = None,
                            stop: threading.Event | None = None) -> dict:
    """Load the model twice (A: FP32, classic attention; B: FP16 on a GPU, SDPA / xformers, VAE slicing, optional
    CPU offload) and make the same image with each. The manager's models are unloaded first to make room.
    Returns {"rows": [{arm, dtype, attention, vae_slicing, cpu_offload, load_s, run_s, peak_mb}], "images",
    "seed", "notices"}. Setting `stop` ends it after the current load or step (StudioError "stopped")."""
    lang = caller_lang(lang)
    spec = task_spec(model, "image")
    if spec.loader != "sd" or spec.path is None:
        from studio.core.errors import StudioError
        raise StudioError("experiment_needs_folder", model=model)
    notices: list[str] = []
    job = image_job(prompt, "", model, None, steps, None, seed, width, height, 1, "cpu", lang, notices)
    device = pick_device()
    if not device.startswith("cuda"):
        notices.append(t("notice_experiment_cpu", lang))
    manager().unload_all()

    def load(arm):
        from studio.image.loaders import pipeline_class
        cls = pipeline_class(spec.path)
        extra = dict(safety_checker=None, requires_safety_checker=False) \
            if cls.__name__ == "StableDiffusionPipeline" else {}
        pipe = cls.from_pretrained(spec.path, dtype=getattr(torch, arm.dtype), use_safetensors=True,
                                   local_files_only=True, **extra)
        pipe.set_progress_bar_config(disable=True)
        check_stop(stop)  # before the arm's timing goes on
        configure(pipe, arm, device)
        return pipe

    def interrupt(pipe, _step, _timestep, tensors):
        if stop is not None and stop.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps
        return tensors

    def generate(pipe):
        pipe.scheduler = make_scheduler(job.sampler, pipe.scheduler.config, job.schedule_type)
        image = pipe(job.prompt, num_inference_steps=job.steps, guidance_scale=job.cfg_scale, width=job.width,
                     height=job.height, generator=torch.Generator("cpu").manual_seed(job.seeds[0]),
                     callback_on_step_end=interrupt).images[0]
        check_stop(stop)
        return image

    # One untimed load first: imports and the OS file cache would otherwise be charged to whichever arm runs first.
    run_arm(arms(device, False)[0], load, lambda pipe: None, device)
    done = []
    for arm in arms(device, cpu_offload):
        check_stop(stop)
        done.append(run_arm(arm, load, generate, device))
    rows = [dict(arm=a.name, dtype=a.dtype, attention=a.attention, vae_slicing=a.vae_slicing,
                 cpu_offload=a.cpu_offload, load_s=round(a.load_s, 3), run_s=round(a.run_s, 3),
                 peak_mb=round(a.peak_bytes / 2**20, 1)) for a in done]
    return {"rows": rows, "images": [a.image for a in done], "seed": job.seeds[0], "notices": notices,
            "device": device}
