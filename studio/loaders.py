"""Loader functions: ModelSpec + device -> a resident object the engines use.

Each one uses the libraries' own `from_pretrained` / `from_single_file`, with safetensors only and no
remote code unless the operator opted in (studio.config). The manager calls them; nothing else should.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .config import settings
from .device import apply_pipeline_options, pick_dtype
from .errors import StudioError
from .models import ModelSpec, check_weights_safe
from .registry import ASSETS

LOADERS: dict[str, Callable[[ModelSpec, str], object]] = {}


def loader(name: str):
    def register(fn):
        LOADERS[name] = fn
        return fn
    return register


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


def load(spec: ModelSpec, device: str) -> object:
    if spec.loader not in LOADERS:
        raise StudioError("no_loader", model=spec.title, task=spec.task)
    check_weights_safe(spec.path, spec.title)
    return LOADERS[spec.loader](spec, device)


def _pipeline_class(path: Path):
    import diffusers
    name = json.loads((path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return getattr(diffusers, name)


@loader("sd")
def load_sd(spec: ModelSpec, device: str):
    cls = _pipeline_class(spec.path)
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


@loader("sd-single")
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


@loader("causal-lm")
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


@loader("clip")
def load_clip(spec: ModelSpec, device: str) -> ModelWithProcessor:
    from transformers import CLIPModel, CLIPProcessor
    processor = CLIPProcessor.from_pretrained(spec.path, local_files_only=True)
    model = CLIPModel.from_pretrained(spec.path, local_files_only=True, use_safetensors=not settings().allow_pickle)
    return ModelWithProcessor(model.to(device).eval(), processor)


@loader("safety")
def load_safety(spec: ModelSpec, device: str):
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    from .safety import SafetyChecker
    model = StableDiffusionSafetyChecker.from_pretrained(spec.path, local_files_only=True,
                                                         use_safetensors=not settings().allow_pickle)
    return SafetyChecker(model.to(device).eval(), CLIPImageProcessor.from_pretrained(spec.path, local_files_only=True))


@loader("wan")
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


@loader("t2v-sd")
def load_t2v_sd(spec: ModelSpec, device: str):
    """ModelScope's text-to-video-ms-1.7b through diffusers' TextToVideoSDPipeline (a 3D UNet, 256x256)."""
    from diffusers import TextToVideoSDPipeline
    return _load_unet_video(TextToVideoSDPipeline, spec, device)


@loader("animatediff")
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


@loader("espeak")
def load_espeak(spec: ModelSpec, device: str):
    from .engines.espeak import Espeak
    return Espeak(spec.path)


@loader("chattts")
def load_chattts(spec: ModelSpec, device: str):
    """ChatTTS from its downloaded folder: source="custom" (the default "local" runs a downloader) and an
    explicit device (its own pick falls back to the CPU below ~2 GB of free GPU memory)."""
    import ChatTTS
    from .engines import chattts_files
    absent = chattts_files.missing(spec.path)
    if absent:
        raise StudioError("load_failed", model=spec.title, reason="missing " + ", ".join(absent))
    chat = ChatTTS.Chat()
    chat.published = chattts_files.accept_folder(chat, spec.path)
    if not chat.load(source="custom", custom_path=str(spec.path), device=torch.device(device), compile=False):
        raise StudioError("load_failed", model=spec.title, reason="ChatTTS.Chat.load returned False")
    return chat
