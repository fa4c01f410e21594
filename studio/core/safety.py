"""The Stable Diffusion safety checker, switched on by the operator for classes (STUDIO_SAFETY_CHECKER).

The studio runs it itself on every finished picture, whatever made it (SD 1.5, SDXL, a folder, a mini model), rather
than through the SD 1.5 pipeline's built-in hook (which SDXL lacks). A flagged picture is replaced by a black one
and the learner gets a notice; the weights are the CompVis checker (`sd-safety-checker` in the registry), loaded
through the model manager like any model. Nothing a learner clicks can switch it off.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from studio.core import hub
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.loaders import ModelWithProcessor
from studio.core.registry import CARDS
from studio.core.specs import ModelSpec


KEY = "sd-safety-checker"


def load_safety(spec: ModelSpec, device: str) -> "SafetyChecker":
    """The checker's weights as the manager loads them (its loader "safety" in studio.core.loaders.LOADERS)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor
    model = StableDiffusionSafetyChecker.from_pretrained(spec.path, local_files_only=True,
                                                         use_safetensors=not settings().allow_pickle)
    return SafetyChecker(model.to(device).eval(), CLIPImageProcessor.from_pretrained(spec.path, local_files_only=True))


class SafetyChecker(ModelWithProcessor):
    """StableDiffusionSafetyChecker and its CLIP image processor, one resident model for the manager."""

    def flags(self, images: list[Image.Image]) -> list[bool]:
        device = next(self.model.parameters()).device
        clip = self.processor(images=[im.convert("RGB") for im in images], return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255 for im in images])
        _, flagged = self.model(clip_input=clip.to(device, self.model.dtype), images=arrays)
        return [bool(f) for f in flagged]


def enabled() -> bool:
    return bool(settings().safety_checker)


def check(images: list[Image.Image]) -> list[bool]:
    """Which pictures the checker flags (all False when the operator has not switched it on)."""
    if not enabled() or not images:
        return [False] * len(images)
    if hub.find_local(CARDS[KEY]) is None:
        raise StudioError("safety_checker_missing", where=hub.where_looked(CARDS[KEY]))
    from studio.core.manager import manager
    return manager().run(KEY, lambda checker: checker.flags(images))


def blank(image: Image.Image) -> Image.Image:
    """What a flagged picture becomes: black, same size, parameters kept (they show what was asked)."""
    out = Image.new("RGB", image.size)
    out.info.update(image.info)
    return out
