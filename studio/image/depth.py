"""Depth maps for the depth ControlNets: a transformers depth estimator (named in studio.core.loaders.LOADERS) and
the grey picture the nets were trained on, near = white."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from studio.core.config import settings
from studio.core.device import pick_dtype
from studio.core.errors import StudioError
from studio.core.loaders import ModelWithProcessor
from studio.core.specs import ModelSpec


ESTIMATOR = "depth-anything-v2-small"  # the registry's depth estimator (task "depth"), the depth maps' default


def load_depth(spec: ModelSpec, device: str) -> ModelWithProcessor:
    """AutoModelForDepthEstimation and its AutoImageProcessor from a folder, in the device's precision: safetensors
    only unless the operator allows pickles, and no code shipped with the model unless the operator allows it."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation
    trust = settings().trust_remote_code
    if not trust and any(_auto_map(spec.path / name) for name in ("config.json", "preprocessor_config.json")):
        raise StudioError("remote_code", model=spec.title)
    processor = AutoImageProcessor.from_pretrained(spec.path, local_files_only=True, trust_remote_code=trust)
    model = AutoModelForDepthEstimation.from_pretrained(spec.path, local_files_only=True, dtype=pick_dtype(device),
                                                        use_safetensors=not settings().allow_pickle,
                                                        trust_remote_code=trust)
    return ModelWithProcessor(model.to(device).eval(), processor)


def _auto_map(path: Path) -> bool:
    """Does a config file name classes of the model's own code (auto_map)?"""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("auto_map"))


def _near_is_large(model) -> bool:
    """Relative models (Depth Anything, DPT/MiDaS) give inverse depth, near = large; metric ones give distance."""
    config = model.config
    return getattr(config, "depth_estimation_type", "relative") != "metric" and config.model_type != "zoedepth"


@torch.inference_mode()
def depth_map(model: ModelWithProcessor, image: Image.Image, width: int, height: int) -> Image.Image:
    """The depth map of `image` as an RGB grey picture of width x height (stretched to it: fit the picture to that
    shape first), near = white, spread over 0-255."""
    net = model.model
    inputs = model.processor(images=image.convert("RGB"), return_tensors="pt")
    param = next(net.parameters())
    pixels = inputs["pixel_values"].to(device=param.device, dtype=param.dtype)
    depth = net(pixel_values=pixels).predicted_depth  # [1, h, w]
    depth = torch.nn.functional.interpolate(depth[:, None].float(), size=(int(height), int(width)), mode="bicubic",
                                            align_corners=False)[0, 0]
    if not _near_is_large(net):
        depth = -depth
    low, high = depth.min(), depth.max()
    scaled = (depth - low) / (high - low) if high > low else torch.zeros_like(depth)
    grey = (scaled * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(grey).convert("RGB")
