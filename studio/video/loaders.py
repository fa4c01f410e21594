"""Video pipelines: Wan2.1, ModelScope's 3D UNet and AnimateDiff (named in studio.core.loaders.LOADERS)."""
from __future__ import annotations

import torch

from studio.core.config import settings
from studio.core.device import apply_pipeline_options, pick_dtype
from studio.core.specs import ModelSpec


def load_wan(spec: ModelSpec, device: str):
    """Wan2.1: the VAE stays in fp32 (its decoder is unstable in half precision), the rest in bf16."""
    from diffusers import AutoencoderKLWan, WanPipeline
    safe = not settings().allow_pickle
    vae = AutoencoderKLWan.from_pretrained(spec.path, subfolder="vae", dtype=torch.float32,
                                           use_safetensors=safe, local_files_only=True)
    pipe = WanPipeline.from_pretrained(spec.path, vae=vae, dtype=pick_dtype(device, prefer_bf16=True),
                                       use_safetensors=safe, local_files_only=True)
    apply_pipeline_options(pipe, device, spec.options)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_t2v_sd(spec: ModelSpec, device: str):
    """ModelScope's text-to-video-ms-1.7b through diffusers' TextToVideoSDPipeline (a 3D UNet, 256x256)."""
    from diffusers import TextToVideoSDPipeline
    return _load_unet_video(TextToVideoSDPipeline, spec, device)


def load_animatediff(spec: ModelSpec, device: str):
    """An AnimateDiff folder (AnimateDiffPipeline: an SD UNet with its motion modules, saved as a UNetMotionModel)."""
    from diffusers import AnimateDiffPipeline
    return _load_unet_video(AnimateDiffPipeline, spec, device)


def _load_unet_video(cls, spec: ModelSpec, device: str):
    """A UNet video pipeline folder: one dtype for all parts (no fp32 VAE as Wan needs)."""
    pipe = cls.from_pretrained(spec.path, dtype=pick_dtype(device), local_files_only=True,
                               use_safetensors=not settings().allow_pickle)
    apply_pipeline_options(pipe, device, spec.options)
    pipe.set_progress_bar_config(disable=True)
    return pipe
