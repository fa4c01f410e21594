"""优化实验 A vs B on one model: the same prompt and seed, two loads, measured."""
from __future__ import annotations

import threading

import torch

from .. import experiment
from ..device import pick_device
from ..i18n import t
from ..manager import manager
from ..samplers import make_scheduler
from .common import _lang, _spec, check_stop
from .image import _image_job


def optimisation_experiment(prompt: str = "", model: str = "mini-shapes", steps: int | None = None,
                            seed: int = -1, width: int | None = None, height: int | None = None,
                            cpu_offload: bool = False, *, lang: str | None = None,
                            stop: threading.Event | None = None) -> dict:
    """Load the model twice (A: FP32, classic attention; B: FP16 on a GPU, SDPA / xformers, VAE slicing, optional
    CPU offload) and make the same image with each. The manager's models are unloaded first to make room.
    Returns {"rows": [{arm, dtype, attention, vae_slicing, cpu_offload, load_s, run_s, peak_mb}], "images",
    "seed", "notices"}. Setting `stop` ends it after the current load or step (StudioError "stopped")."""
    lang = _lang(lang)
    spec = _spec(model, "image")
    if spec.loader != "sd" or spec.path is None:
        from ..errors import StudioError
        raise StudioError("experiment_needs_folder", model=model)
    notices: list[str] = []
    job = _image_job(prompt, "", model, None, steps, None, seed, width, height, 1, "cpu", lang, notices)
    device = pick_device()
    if not device.startswith("cuda"):
        notices.append(t("notice_experiment_cpu", lang))
    manager().unload_all()

    def load(arm):
        from ..loaders import _pipeline_class
        cls = _pipeline_class(spec.path)
        extra = dict(safety_checker=None, requires_safety_checker=False) \
            if cls.__name__ == "StableDiffusionPipeline" else {}
        pipe = cls.from_pretrained(spec.path, dtype=getattr(torch, arm.dtype), use_safetensors=True,
                                   local_files_only=True, **extra)
        pipe.set_progress_bar_config(disable=True)
        check_stop(stop)  # before the arm's timing goes on
        experiment.configure(pipe, arm, device)
        return pipe

    def interrupt(pipe, _step, _timestep, tensors):
        if stop is not None and stop.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps
        return tensors

    def generate(pipe):
        pipe.scheduler = make_scheduler(job.sampler, pipe.scheduler.config)
        image = pipe(job.prompt, num_inference_steps=job.steps, guidance_scale=job.cfg_scale, width=job.width,
                     height=job.height, generator=torch.Generator("cpu").manual_seed(job.seeds[0]),
                     callback_on_step_end=interrupt).images[0]
        check_stop(stop)
        return image

    # One untimed load first: imports and the OS file cache would otherwise be charged to whichever arm runs first.
    experiment.run_arm(experiment.arms(device, False)[0], load, lambda pipe: None, device)
    done = []
    for arm in experiment.arms(device, cpu_offload):
        check_stop(stop)
        done.append(experiment.run_arm(arm, load, generate, device))
    rows = [dict(arm=a.name, dtype=a.dtype, attention=a.attention, vae_slicing=a.vae_slicing,
                 cpu_offload=a.cpu_offload, load_s=round(a.load_s, 3), run_s=round(a.run_s, 3),
                 peak_mb=round(a.peak_bytes / 2**20, 1)) for a in done]
    return {"rows": rows, "images": [a.image for a in done], "seed": job.seeds[0], "notices": notices,
            "device": device}
