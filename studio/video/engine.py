"""Text-to-video on a loaded diffusers pipeline: WanPipeline (Wan2.1-T2V) or TextToVideoSDPipeline (ModelScope's
text-to-video-ms-1.7b and the built-in mini-motion)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class VideoJob:
    prompt: str
    negative_prompt: str
    steps: int
    cfg_scale: float
    seed: int
    num_frames: int  # 4k + 1 (Wan's VAE packs 4 frames into one latent frame after the first)
    width: int  # multiples of 16
    height: int
    flow_shift: float | None  # None: the model's own


def constraints(pipe) -> tuple[int, int]:
    """(frame step, size multiple) of a WanPipeline: frames = step * k + 1, sides divisible by the multiple."""
    temporal = getattr(pipe, "vae_scale_factor_temporal", 4)
    spatial = getattr(pipe, "vae_scale_factor_spatial", 8)
    patch = getattr(pipe.transformer.config, "patch_size", (1, 2, 2))[-1]
    return temporal, spatial * patch


class Interrupted(Exception):
    """The user pressed stop: a half-denoised video is not worth decoding."""


def txt2video(pipe, job: VideoJob, on_step: Callable[[int, int], None] | None = None,
              stop: threading.Event | None = None) -> np.ndarray:
    """uint8 frames [F, H, W, 3]. The caller holds the model exclusively (the pipeline keeps per-call state).
    Setting `stop` ends the run after the current step (Interrupted)."""
    if not hasattr(pipe, "_studio_scheduler_config"):
        pipe._studio_scheduler_config = pipe.scheduler.config
    base = pipe._studio_scheduler_config
    if "flow_shift" in base:  # Wan's flow-matching UniPC; ModelScope's 3D UNet has no shift
        shift = base.get("flow_shift") if job.flow_shift is None else job.flow_shift
        pipe.scheduler = type(pipe.scheduler).from_config(base, flow_shift=shift)

    def step_end(_pipe, step, _timestep, tensors):
        if on_step is not None:
            on_step(step + 1, job.steps)
        if stop is not None and stop.is_set():
            _pipe._interrupt = True  # diffusers skips the remaining steps
        return tensors

    def old_callback(step, _timestep, _latents):  # TextToVideoSDPipeline predates callback_on_step_end
        if on_step is not None:
            on_step(step + 1, job.steps)
        if stop is not None and stop.is_set():
            raise Interrupted()

    hooks = dict(callback_on_step_end=step_end) if _has_step_end(pipe) else dict(callback=old_callback,
                                                                                  callback_steps=1)
    hooks.update(text_options(pipe))
    out = pipe(prompt=job.prompt, negative_prompt=job.negative_prompt or None, height=job.height, width=job.width,
               num_frames=job.num_frames, num_inference_steps=job.steps, guidance_scale=job.cfg_scale,
               generator=torch.Generator("cpu").manual_seed(job.seed), output_type="np", **hooks)
    if getattr(pipe, "_interrupt", False):
        pipe._interrupt = False
        raise Interrupted()
    return np.clip(np.rint(out.frames[0] * 255), 0, 255).astype(np.uint8)


def text_options(pipe) -> dict:
    """Wan pads prompt embeddings with zero vectors to `max_sequence_length` (512) and the transformer attends
    to all of them. A model trained on a shorter padding (its tokenizer's model_max_length; the Wan mini-motion
    of scripts/mini_motion/attempts/wan.py: 32) must get that length; for Wan2.1 (model_max_length 512) it is
    the default."""
    if not _accepts(pipe, "max_sequence_length"):
        return {}
    return {"max_sequence_length": min(512, pipe.tokenizer.model_max_length)}


def _has_step_end(pipe) -> bool:
    return _accepts(pipe, "callback_on_step_end")


def _accepts(pipe, parameter: str) -> bool:
    import inspect
    return parameter in inspect.signature(type(pipe).__call__).parameters
