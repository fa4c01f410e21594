"""Causal language models and their tokenizers (named in studio.core.loaders.LOADERS)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from studio.core.config import settings
from studio.core.device import pick_dtype
from studio.core.errors import StudioError
from studio.core.specs import ModelSpec


@dataclass
class TextModel:
    """A causal LM and its tokenizer, kept together as one resident model."""
    model: torch.nn.Module
    tokenizer: object

    def modules(self):
        return [self.model]

    def to(self, device):
        self.model.to(device)
        return self


def load_causal_lm(spec: ModelSpec, device: str) -> TextModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    config = json.loads((spec.path / "config.json").read_text(encoding="utf-8"))
    trust = settings().trust_remote_code
    if config.get("auto_map") and not trust:
        raise StudioError("remote_code", model=spec.title)
    tokenizer = AutoTokenizer.from_pretrained(spec.path, local_files_only=True, trust_remote_code=trust)
    model = AutoModelForCausalLM.from_pretrained(
        spec.path, dtype=pick_dtype(device, prefer_bf16=True), local_files_only=True,
        use_safetensors=not settings().allow_pickle, trust_remote_code=trust)
    return TextModel(model.to(device).eval(), tokenizer)
