"""Loading a model: the `loader` name of its spec -> the function that builds its resident object.

The functions live with their modality (studio/image/loaders.py, studio/text/loaders.py, ...). The table below
names them as "package.module:function" and imports one on first use, so the manager imports no modality and a
modality's libraries are imported only when one of its models is loaded. Each function uses the libraries' own
`from_pretrained` / `from_single_file`, with safetensors only and no remote code unless the operator opted in
(studio.core.config). The manager calls `load`; nothing else should.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch

from studio.core.errors import StudioError
from studio.core.specs import ModelSpec, check_weights_safe


LOADERS: dict[str, str] = {
    "sd": "studio.image.loaders:load_sd",
    "sd-single": "studio.image.loaders:load_sd_single",
    "causal-lm": "studio.text.loaders:load_causal_lm",
    "clip": "studio.crossmodal.loaders:load_clip",
    "safety": "studio.core.safety:load_safety",
    "wan": "studio.video.loaders:load_wan",
    "t2v-sd": "studio.video.loaders:load_t2v_sd",
    "animatediff": "studio.video.loaders:load_animatediff",
    "espeak": "studio.speech.loaders:load_espeak",
    "chattts": "studio.speech.loaders:load_chattts",
    "melody": "studio.music.melody:load_melody",
    "musicgen": "studio.music.musicgen:load_musicgen",
    "controlnet": "studio.image.controlnets:load_controlnet",
    "depth": "studio.image.depth:load_depth",
}


def loader(name: str) -> Callable[[ModelSpec, str], object]:
    """The loader function a spec's `loader` names (its module imported now, on first use)."""
    module, _, function = LOADERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def load(spec: ModelSpec, device: str) -> object:
    if spec.loader not in LOADERS:
        raise StudioError("no_loader", model=spec.title, task=spec.task)
    check_weights_safe(spec.path, spec.title)
    return loader(spec.loader)(spec, device)


@dataclass
class ModelWithProcessor:
    """A model and its input processor, kept together as one resident model (CLIP for the alignment score; the
    safety checker extends it)."""
    model: torch.nn.Module
    processor: object

    def modules(self):
        return [self.model]

    def to(self, device):
        self.model.to(device)
        return self
