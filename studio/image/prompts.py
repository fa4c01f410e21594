"""Prompt libraries of the course, kept as data in assets/prompts (not code)."""
from __future__ import annotations

import json
from functools import lru_cache

from studio.core.registry import ASSETS


@lru_cache(maxsize=None)
def library(name: str) -> dict:
    return json.loads((ASSETS / "prompts" / f"{name}.json").read_text(encoding="utf-8"))


def common_negative(lang: str = "en") -> str:
    """The course's common negative prompt; English is what CLIP text encoders read."""
    return library("image")["common_negative"][lang]


def sections() -> list[dict]:
    """The structured prompt formula: 主体 / 细节 / 场景 / 光照 / 风格 / 技术参数, each with [zh, en] terms."""
    return library("image")["sections"]


def build_prompt(chosen: dict[str, list[str]], extra: dict[str, str] | None = None, lang: str = "en") -> str:
    """The formula's parts in order, joined with commas. `chosen` holds Chinese terms per section key; lang "en"
    writes their English (what SD's CLIP reads), "zh" keeps them. `extra` adds free text per section."""
    parts = []
    for section in sections():
        english = dict(section["terms"])
        words = [english.get(term, term) if lang == "en" else term for term in chosen.get(section["key"]) or []]
        free = (extra or {}).get(section["key"], "").strip()
        parts.extend(words + ([free] if free else []))
    return ", ".join(parts)


def dictionary_translate(text: str) -> tuple[str, int]:
    """The offline fallback of the 翻译 helper: keyword-library terms replaced by their English (longest first),
    Chinese punctuation made ASCII. Returns (text, how many terms were replaced); other words stay as they are."""
    pairs = sorted(((zh, en) for s in sections() for zh, en in s["terms"] if zh != en), key=lambda p: -len(p[0]))
    count = 0
    for zh, en in pairs:
        if zh in text:
            count += text.count(zh)
            text = text.replace(zh, f" {en} ")
    for a, b in (("，", ", "), ("。", ". "), ("、", ", "), ("：", ": "), ("（", "("), ("）", ")"), ("|", ", ")):
        text = text.replace(a, b)
    return " ".join(text.split()).replace(" ,", ","), count
