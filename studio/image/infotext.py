"""The `parameters` text the popular web UIs write into PNGs, and its reader.

    <prompt>
    Negative prompt: <negative prompt>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1057871485, Size: 512x512, Model hash: 7460a6fa2b, Model: x
"""
from __future__ import annotations

import json
import re

from PIL import Image


# Keys in the order the web UIs write them, then the field name the studio uses for each.
FIELDS = [
    ("Steps", "steps"), ("Sampler", "sampler"), ("Schedule type", "schedule_type"), ("CFG scale", "cfg_scale"),
    ("Seed", "seed"), ("Size", "size"), ("Model hash", "model_hash"), ("Model", "model"), ("VAE", "vae"),
    ("Denoising strength", "denoising_strength"), ("Clip skip", "clip_skip"),
]
_NUMBERS = {"steps": int, "seed": int, "cfg_scale": float, "denoising_strength": float, "clip_skip": int}
_PAIR = re.compile(r'\s*([\w][\w \-/+.]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def _quote(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n') else text


def format_infotext(prompt: str, negative_prompt: str, params: dict) -> str:
    """params: studio field names (steps, sampler, ...) plus any extra 'Key Name' entries."""
    named = dict(FIELDS)
    pairs = []
    for key, field in FIELDS:
        if params.get(field) not in (None, ""):
            pairs.append(f"{key}: {_quote(params[field])}")
    for key, value in params.items():
        if key not in named.values() and value not in (None, ""):
            pairs.append(f"{key}: {_quote(value)}")
    lines = [prompt or ""]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def _number(kind, text: str):
    """An integer field read exactly (seeds reach 2^64: through a float 127589946317439009 would come back as
    ...008), "20.0" too; a float field as a float; text that is no number stays text."""
    try:
        if kind is int:
            try:
                return int(text)
            except ValueError:
                return int(float(text))
        return float(text)
    except ValueError:
        return text


def parse_infotext(text: str) -> dict:
    """Back to studio fields: prompt, negative_prompt, steps, sampler, cfg_scale, seed, width, height, ..."""
    from studio.image.samplers import join_schedule
    lines = text.strip().split("\n")
    last = lines[-1] if len(_PAIR.findall(lines[-1])) >= 3 else ""  # the web UIs' own test
    body = lines[:-1] if last else lines
    prompt, negative, in_negative = [], [], False
    for line in body:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    result: dict = {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip()}
    by_key = dict(FIELDS)
    for key, raw in _PAIR.findall(last):
        value = json.loads(raw) if raw.startswith('"') else raw.strip()
        field = by_key.get(key.strip(), key.strip())
        if field in _NUMBERS:
            value = _number(_NUMBERS[field], value)
        result[field] = value
    if "size" in result:
        w, _, h = str(result.pop("size")).partition("x")
        if w.isdigit() and h.isdigit():
            result["width"], result["height"] = int(w), int(h)
    if "sampler" in result:
        result["sampler"] = join_schedule(result["sampler"], result.pop("schedule_type", None))
    return result


def read_png_text(image: Image.Image) -> str | None:
    """The `parameters` chunk of a PNG opened with PIL (None when there is none)."""
    info = getattr(image, "info", {}) or {}
    text = info.get("parameters")
    if text is None and hasattr(image, "text"):
        text = image.text.get("parameters")
    return text
