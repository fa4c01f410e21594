"""From what a user typed in a `model` field to a ModelSpec: a registry key or a local folder/file.

Local paths are accepted only inside the configured model folders, so a learner typing `/etc` or
`../..` is refused; the folder's own files say which loader it needs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import hub
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.registry import CARDS, ModelCard


# Pipelines the studio can drive, by the class name diffusers writes into model_index.json.
PIPELINE_CLASSES = {
    "StableDiffusionPipeline": ("image", "sd"),
    "StableDiffusionXLPipeline": ("image", "sd"),
    "WanPipeline": ("video", "wan"),
    "TextToVideoSDPipeline": ("video", "t2v-sd"),  # ModelScope's text-to-video-ms-1.7b (a 3D UNet)
    "AnimateDiffPipeline": ("video", "animatediff"),  # an SD UNet with motion modules (the built-in mini-motion)
}

# transformers classes a config.json may name that are music models (text -> audio tokens -> EnCodec audio).
MUSIC_CLASSES = ("MusicgenForConditionalGeneration", "MusicgenMelodyForConditionalGeneration")


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the model manager's key: registry key, or "local:<real path>"
    task: str
    loader: str
    card: ModelCard | None = None
    path: Path | None = None  # None: the model must be downloaded first
    options: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.card.key if self.card else self.path.name

    def defaults(self) -> dict:
        return dict(self.card.defaults) if self.card else {}


MAX_NAME = 500  # characters in a model key or folder path


def resolve(model: str) -> ModelSpec:
    if model is not None and not isinstance(model, str):
        raise StudioError("unknown_model", model=repr(model)[:80], choices=", ".join(CARDS), dirs=_dirs_text())
    model = (model or "").strip()
    if len(model) > MAX_NAME or "\0" in model:
        raise StudioError("unknown_model", model=model[:80] + "…", choices=", ".join(CARDS), dirs=_dirs_text())
    card = CARDS.get(model)
    if card is not None:
        return ModelSpec(card.key, card.task, card.loader, card, hub.find_local(card), dict(card.options))
    path = _local_path(model)
    task, loader = detect(path, model)
    return ModelSpec(f"local:{path}", task, loader, None, path)


def _dirs_text() -> str:
    return ", ".join(str(d) for d in hub.model_dirs())


def _local_path(model: str) -> Path:
    if not model:
        raise StudioError("unknown_model", model=model, choices=", ".join(CARDS), dirs=_dirs_text())
    given = Path(model).expanduser()
    candidates = [given] if given.is_absolute() else [d / given for d in hub.model_dirs()]
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if not hub.is_inside_model_dirs(real):
            raise StudioError("path_outside_dirs", model=model, dirs=_dirs_text())
        try:
            if real.exists():
                return real
        except OSError:  # a name the file system cannot hold (too long a part, ...) names no model
            break
    raise StudioError("unknown_model", model=model, choices=", ".join(CARDS), dirs=_dirs_text())


def detect(path: Path, shown: str | None = None) -> tuple[str, str]:
    """(task, loader) for a local folder or checkpoint file, from its own metadata files."""
    shown = shown or str(path)
    if path.is_file():
        if path.suffix == ".safetensors":
            return "image", "sd-single"
        if path.suffix in (".ckpt", ".bin", ".pt", ".pth"):
            raise StudioError("unsafe_weights", model=shown)
        raise StudioError("not_a_pipeline", model=shown, reason=f"unknown file type '{path.suffix}'")
    index = path / "model_index.json"
    if index.is_file():
        cls = _read_json(index, shown).get("_class_name")
        if cls in PIPELINE_CLASSES:
            return PIPELINE_CLASSES[cls]
        raise StudioError("not_a_pipeline", model=shown, reason=f"pipeline class {cls} is not supported")
    config = path / "config.json"
    if config.is_file():
        data = _read_json(config, shown)
        if data.get("_class_name") == "ControlNetModel":  # a diffusers ControlNet (studio.image.controlnets)
            return "controlnet", "controlnet"
        architectures = data.get("architectures") or []
        if any(isinstance(a, str) and a.endswith("ForDepthEstimation") for a in architectures):
            return "depth", "depth"  # transformers' depth estimators (studio.image.depth)
        if any(a in MUSIC_CLASSES for a in architectures):
            return "music", "musicgen"
        if any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in architectures):
            return "text", "causal-lm"
        raise StudioError("not_a_pipeline", model=shown, reason=f"architectures {architectures} are not a causal LM"
                                                                 " nor MusicGen")
    raise StudioError("not_a_pipeline", model=shown, reason="no model_index.json or config.json")


def _read_json(path: Path, shown: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError("not_a_pipeline", model=shown, reason=f"{path.name} is unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise StudioError("not_a_pipeline", model=shown, reason=f"{path.name} is not a JSON object")
    return data


def check_weights_safe(path: Path, shown: str) -> None:
    """Refuse folders whose weights exist only as pickles, unless the operator allowed them."""
    if settings().allow_pickle or path.is_file():
        return
    files = [f for f in path.rglob("*") if f.is_file()]
    has_safe = any(f.suffix == ".safetensors" for f in files)
    has_pickle = any(f.suffix in (".bin", ".ckpt", ".pt", ".pth") for f in files)
    if has_pickle and not has_safe:
        raise StudioError("unsafe_weights", model=shown)


_hash_cache: dict[tuple, str] = {}


def weights_hash(spec: ModelSpec) -> str | None:
    """'Model hash' as the web UIs write it: the first 10 hex digits of the sha256 of the checkpoint
    file, or for a diffusers folder of its UNet weights file. Cached per file version."""
    if spec.path is None:
        return None
    if spec.path.is_file():
        target = spec.path
    else:
        found = sorted((spec.path / "unet").glob("diffusion_pytorch_model*.safetensors"))
        found += sorted((spec.path / "transformer").glob("diffusion_pytorch_model*.safetensors"))
        if not found:
            return None
        target = found[0]
    return file_hash(target)


def file_hash(target: Path) -> str:
    """First 10 hex digits of a file's sha256, cached per file version."""
    stat = target.stat()
    key = (str(target), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        import hashlib
        digest = hashlib.sha256()
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()[:10]
    return _hash_cache[key]
