"""The operator's optional prompt blocklist (STUDIO_BLOCKLIST: a text file, one word or phrase per line).

A prompt or text containing a listed phrase (case-insensitive; full-width and half-width forms alike) is refused
with a message before any model runs. Lines starting with # are comments.
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from studio.core.config import settings
from studio.core.errors import StudioError


@functools.lru_cache(maxsize=4)
def _phrases(path: str, mtime: float) -> tuple[str, ...]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(_norm(x) for x in lines if x.strip() and not x.lstrip().startswith("#"))


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def phrases() -> tuple[str, ...]:
    path = settings().blocklist
    if not path:
        return ()
    try:
        return _phrases(path, Path(path).stat().st_mtime)  # edited files are re-read
    except OSError as exc:
        raise StudioError("blocklist_unreadable", path=path, reason=exc.strerror or str(exc)) from None


def check(text: str) -> str:
    """`text` unchanged, or StudioError("blocked_prompt") naming the listed phrase it contains."""
    listed = phrases()
    if listed and text:
        found = next((p for p in listed if p in _norm(text)), None)
        if found is not None:
            raise StudioError("blocked_prompt", phrase=found)
    return text
