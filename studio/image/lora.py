"""LoRA adapters for the image pipelines: where they are found, and applying a chosen set to a loaded pipeline.

A LoRA is a `.safetensors` file, or a folder holding `pytorch_lora_weights.safetensors` (what diffusers'
`save_lora_weights` and the 模型微调 tab write), in `<model dir>/lora/` or `<output dir>/lora/`.
"""
from __future__ import annotations

from pathlib import Path

from studio.core import files, hub
from studio.core.backend import Sent, kept
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.specs import file_hash


WEIGHTS = "pytorch_lora_weights.safetensors"


def folders() -> list[Path]:
    return [d / "lora" for d in hub.model_dirs()] + [Path(settings().output_dir).expanduser().resolve() / "lora"]


def _weights(entry: Path) -> Path | None:
    if entry.is_file() and entry.suffix == ".safetensors":
        return entry
    if entry.is_dir() and (entry / WEIGHTS).is_file():
        return entry / WEIGHTS
    return None


def available(who: files.Who | None = None) -> dict[str, Path]:
    """LoRA name -> its weights file (the first folder wins on a name clash), of the LoRAs `who` (default: whoever
    is asking; from Python the operator: all of them) may use: built-in, shared, and their own (studio.core.files)."""
    who = who or files.current()
    found: dict[str, Path] = {}
    for folder in folders():
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                weights = _weights(entry)
                name = entry.stem if entry.is_file() else entry.name
                if weights is not None and name not in found and files.may_use_lora(weights, who):
                    found[name] = weights
    return found


def resolve(names_and_weights: list[tuple[str | Sent, float]]) -> list[tuple[str, Path, float]]:
    """(name, weights file, weight) of each LoRA named; one sent by the web process to a worker (Sent) is the file
    it sent, kept by hash."""
    known = available()
    out = []
    for name, weight in names_and_weights:
        if isinstance(name, Sent):
            out.append((Path(name.name).stem, kept(name), float(weight)))
            continue
        if name not in known:
            raise StudioError("unknown_lora", name=name, choices=", ".join(known) or "-",
                              dirs=", ".join(files.shown(f) for f in folders()))  # no server paths
        out.append((name, known[name], float(weight)))
    return out


def apply(pipe, loras: list[tuple[str, Path, float]]) -> None:
    """Make exactly these adapters active with these weights (none: every loaded adapter off). Adapters stay
    loaded, keyed by file hash, so switching back is instant and a changed file is a new adapter."""
    loaded = set(pipe.get_list_adapters().get("unet", [])) if hasattr(pipe, "get_list_adapters") else set()
    if not loras:
        if loaded:
            pipe.disable_lora()
        return
    names = []
    for name, path, _weight in loras:
        adapter = f"{name}-{file_hash(path)}"
        if adapter not in loaded:
            try:
                pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=adapter)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:  # not a LoRA of this model's shape
                raise StudioError("bad_lora", name=name, reason=str(exc)[:200]) from exc
        names.append(adapter)
    pipe.enable_lora()
    pipe.set_adapters(names, adapter_weights=[w for _n, _p, w in loras])


def hashes(loras: list[tuple[str, Path, float]]) -> str:
    """The infotext's `Lora hashes` value: "name: hash, name: hash"."""
    return ", ".join(f"{name}: {file_hash(path)}" for name, path, _w in loras)
