"""What every 查看代码 script shares: where its model's files come from, never a path of the server (a learner
runs the script on a laptop)."""
from __future__ import annotations

import os
from pathlib import Path

from studio.core.registry import ASSETS
from studio.core.specs import ModelSpec


BUILTIN_NOTE = ("# A model built into AIGC Studio: run this script in the studio's folder (a checkout of\n"
                "# AIGC Studio), or copy {rel} from one beside this script, keeping that path\n")
OWN_NOTE = ("# The studio's own {kind} ({shown} on the studio's server, not on a model hub): copy it beside\n"
            "# this script and run the script from there\n")


def model_source(spec: ModelSpec, hub: str, folder: bool = False, own: bool = False) -> tuple[str, str]:
    """(lines that set model_path, extra pip packages), with no server path: a course model's hub id (even when
    the server holds a downloaded copy), a built-in model's folder relative to a checkout of the studio, else the
    name of the operator's own folder or file, to copy beside the script. `folder`: the script needs the files on
    disk (ChatTTS's custom_path), so a Hugging Face id goes through snapshot_download too. `own`: the server's
    files are not the hub's (a ChatTTS folder that is not the published release), so the script names them."""
    card = spec.card
    relative = in_checkout(spec.path) if spec.path is not None else None
    if relative is None and spec.path is None and card is not None and card.builtin and not card.package_data:
        relative = f"assets/models/{card.key}"
    if relative is not None:
        return BUILTIN_NOTE.format(rel=relative) + f"model_path = {relative!r}\n", ""
    if card is not None and (card.hf_id or card.modelscope_id) and not (own and spec.path is not None):
        if card.modelscope_id and (hub == "modelscope" or not card.hf_id):
            revision = card.revision.get("modelscope")
            rev = f", revision={revision!r}" if revision else ""
            return (f"from modelscope import snapshot_download  # the files from ModelScope, cached\n"
                    f"model_path = snapshot_download({card.modelscope_id!r}{rev})\n", " modelscope")
        revision = card.revision.get("hf")
        if folder or revision:
            rev = f", revision={revision!r}" if revision else ""
            return (f"from huggingface_hub import snapshot_download  # the files from the Hugging Face hub, cached\n"
                    f"model_path = snapshot_download({card.hf_id!r}{rev})\n", "")
        return f"model_path = {card.hf_id!r}  # downloaded from the Hugging Face hub on the first run\n", ""
    kind = "checkpoint file" if spec.path.is_file() else "model folder"
    return OWN_NOTE.format(kind=kind, shown=shown_path(spec.path)) + f"model_path = {spec.path.name!r}\n", ""


def in_checkout(path: Path) -> str | None:
    """A path under the studio's assets/ as it is in a checkout of the studio (assets/models/mini-shapes)."""
    for candidate in (Path(path), Path(os.path.realpath(path))):
        if candidate.is_relative_to(ASSETS):
            return (Path(ASSETS.name) / candidate.relative_to(ASSETS)).as_posix()
    return None


def shown_path(path: Path) -> str:
    """A model or LoRA path as the studio's messages name it (models/tiny-sd15, outputs/lora/style), else its name."""
    from studio.core import files, hub
    bases = [*((d, "models") for d in hub.model_dirs()), (files.root(), "outputs")]
    for candidate in (Path(path), Path(os.path.realpath(path))):
        for base, label in bases:
            if candidate.is_relative_to(base) and candidate != base:
                return f"{label}/{candidate.relative_to(base).as_posix()}"
    return Path(path).name
