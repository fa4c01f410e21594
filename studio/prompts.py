"""Prompt libraries of the course, kept as data in assets/prompts (not code)."""
from __future__ import annotations

import json
from functools import lru_cache

from .registry import ASSETS


@lru_cache(maxsize=None)
def library(name: str) -> dict:
    return json.loads((ASSETS / "prompts" / f"{name}.json").read_text(encoding="utf-8"))


def common_negative(lang: str = "en") -> str:
    """The course's common negative prompt; English is what CLIP text encoders read."""
    return library("image")["common_negative"][lang]
