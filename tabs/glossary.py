"""The terms the Chinese page keeps in Latin script (issue 36.4), read from tabs/glossary.txt.

The file is the reviewed list; the model registry's own names (keys, hub ids, titles) are added here, since a
model card already names them. `strip_terms` removes each listed term where it stands as a whole term, so what
is left of a Chinese page's text holds no Latin word unless the text is untranslated English.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from studio.core.registry import CARDS


FILE = Path(__file__).with_name("glossary.txt")


def listed() -> list[str]:
    """The glossary file's terms, one per line; '#' starts a comment."""
    lines = (line.split(" #", 1)[0].strip() for line in FILE.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def registry_names() -> list[str]:
    names = []
    for card in CARDS.values():
        names += [card.key, card.modelscope_id, card.hf_id, card.title["zh"]]
    return [n for n in names if n]


@functools.cache
def _pattern() -> re.Pattern:
    terms = sorted({*listed(), *registry_names()}, key=len, reverse=True)  # the longest term first
    # Whole terms only: "LoRA" clears "LoRA 权重", not "LoRAs".
    return re.compile("|".join(rf"(?<![A-Za-z_]){re.escape(t)}(?![A-Za-z_])" for t in terms))


def strip_terms(text: str) -> str:
    return _pattern().sub(" ", text)
