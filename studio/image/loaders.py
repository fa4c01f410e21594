"""Image pipelines from a folder or a single checkpoint file (named in studio.core.loaders.LOADERS)."""
from __future__ import annotations

import json
from pathlib import Path

from studio.core.config import settings
from studio.core.device import apply_pipeline_options, pick_dtype
from studio.core.registry import ASSETS
from studio.core.specs import ModelSpec


def pipeline_class(path: Path):
    import diffusers
    name = json.loads((path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return getattr(diffusers, name)


def load_sd(spec: ModelSpec, device: str):
    cls = pipeline_class(spec.path)
    extra = {}
    if cls.__name__ == "StableDiffusionPipeline":
        # The safety checker is an opt-in of the operator (not downloaded by default).
        extra = dict(safety_checker=None, requires_safety_checker=False)
    pipe = cls.from_pretrained(spec.path, dtype=pick_dtype(device),
                               use_safetensors=not settings().allow_pickle, local_files_only=True, **extra)
    apply_pipeline_options(pipe, device, spec.options)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def is_sdxl_checkpoint(path: Path) -> bool:
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        return any(k.startswith("conditioner.embedders.1.") for k in f.keys())


def load_sd_single(spec: ModelSpec, device: str):
    """A single-file checkpoint from a model site, with the configs shipped in assets/pipelines."""
    import diffusers
    sdxl = is_sdxl_checkpoint(spec.path)
    cls = diffusers.StableDiffusionXLPipeline if sdxl else diffusers.StableDiffusionPipeline
    config = ASSETS / "pipelines" / ("sdxl" if sdxl else "sd15")
    extra = {} if sdxl else dict(safety_checker=None, requires_safety_checker=False)
    pipe = cls.from_single_file(str(spec.path), config=str(config), dtype=pick_dtype(device),
                                local_files_only=True, **extra)
    apply_pipeline_options(pipe, device, spec.options)
    pipe.set_progress_bar_config(disable=True)
    return pipe
