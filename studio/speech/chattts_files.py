"""The files of a ChatTTS folder, and the hashes ChatTTS checks them against.

ChatTTS 0.2.5's load(source="custom") compares every file with the sha256 of its published release
(ChatTTS/res/sha256_map.json) and refuses anything else, a mirror of another revision included. A folder
the operator placed is taken as it is: its own hashes are put in the instance's map (safetensors and JSON
only, so nothing in it runs code), and the log says it is not the published release.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path


log = logging.getLogger("studio.chattts")

FILES = ("asset/Decoder.safetensors", "asset/DVAE.safetensors", "asset/Embed.safetensors", "asset/Vocos.safetensors",
         "asset/gpt/config.json", "asset/gpt/model.safetensors", "asset/tokenizer/special_tokens_map.json",
         "asset/tokenizer/tokenizer_config.json", "asset/tokenizer/tokenizer.json")


def missing(folder: Path) -> list[str]:
    return [f for f in FILES if not (folder / f).is_file()]


def hash_key(relative: str) -> str:
    """ChatTTS's key for a file: asset/gpt/config.json -> sha256_asset_gpt_config_json."""
    return "sha256_" + relative.replace("/", "_").replace(".", "_")


def hashes(folder: Path) -> dict[str, str]:
    out = {}
    for relative in FILES:
        digest = hashlib.sha256()
        with open(folder / relative, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[hash_key(relative)] = digest.hexdigest()
    return out


def accept_folder(chat, folder: Path) -> bool:
    """Make chat.load(source="custom") take `folder`; True when it is the published release."""
    found = hashes(folder)
    published = all(chat.sha256_map.get(k) == v for k, v in found.items())
    if not published:
        log.warning("ChatTTS folder %s is not the published release (its files differ from ChatTTS's sha256 "
                    "list); loading it as it is", folder)
        chat.sha256_map.update(found)
    return published


def is_published(folder: Path) -> bool:
    """Whether the folder holds exactly ChatTTS's published files (cached per file version)."""
    stamp = tuple((f, (folder / f).stat().st_mtime_ns, (folder / f).stat().st_size) for f in FILES)
    return _is_published(str(folder), stamp)


@functools.lru_cache(maxsize=4)
def _is_published(folder: str, _stamp: tuple) -> bool:
    import json

    import ChatTTS
    release = json.loads((Path(ChatTTS.__file__).parent / "res" / "sha256_map.json").read_text())
    return all(release.get(k) == v for k, v in hashes(Path(folder)).items())
