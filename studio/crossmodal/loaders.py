"""CLIP for the text-image alignment score (named in studio.core.loaders.LOADERS)."""
from __future__ import annotations

from studio.core.config import settings
from studio.core.loaders import ModelWithProcessor
from studio.core.specs import ModelSpec


def load_clip(spec: ModelSpec, device: str) -> ModelWithProcessor:
    from transformers import CLIPModel, CLIPProcessor
    processor = CLIPProcessor.from_pretrained(spec.path, local_files_only=True)
    model = CLIPModel.from_pretrained(spec.path, local_files_only=True, use_safetensors=not settings().allow_pickle)
    return ModelWithProcessor(model.to(device).eval(), processor)
