"""Text-to-image on a loaded diffusers pipeline (Stable Diffusion 1.5 / SDXL and the mini models)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from PIL import Image

from ..samplers import make_scheduler


@dataclass
class ImageJob:
    prompt: str
    negative_prompt: str
    sampler: str
    steps: int
    cfg_scale: float
    seeds: list[int]  # one per image of this batch
    width: int
    height: int
    generator_device: str = "cpu"  # CPU noise: the same seed gives the same picture on any machine


StepCallback = Callable[[int, int], None]  # (step done, total steps)


def txt2img(pipe, job: ImageJob, on_step: StepCallback | None = None) -> list[Image.Image]:
    """Run one batch. The caller holds the model exclusively (pipelines keep per-call state)."""
    # Always derive from the model's own scheduler config, not from the previous run's sampler
    # (whose options, e.g. Karras sigmas, would otherwise leak into the next one).
    if not hasattr(pipe, "_studio_scheduler_config"):
        pipe._studio_scheduler_config = pipe.scheduler.config
    pipe.scheduler = make_scheduler(job.sampler, pipe._studio_scheduler_config)
    n = len(job.seeds)
    generators = [torch.Generator(job.generator_device).manual_seed(s) for s in job.seeds]

    def step_end(_pipe, step, _timestep, tensors):
        if on_step is not None:
            on_step(step + 1, job.steps)
        return tensors

    out = pipe(
        prompt=[job.prompt] * n,
        negative_prompt=[job.negative_prompt] * n if job.negative_prompt else None,
        num_inference_steps=job.steps,
        guidance_scale=job.cfg_scale,
        width=job.width,
        height=job.height,
        generator=generators,
        callback_on_step_end=step_end,
        output_type="pil",
    )
    return list(out.images)
