"""AI-generated content labels, as China's labelling rules (《人工智能生成合成内容标识办法》, GB 45438-2025) ask
of public services.

Implicit: every saved output carries an "AIGC" record in its metadata (PNG text chunk, MP4 / GIF comment, and the
JSON sidecar of WAV and MP4 files) with the standard's fields: Label "1" (AI-generated), ContentProducer,
ProduceID, ContentPropagator, PropagateID and two reserved codes. Always on.
Explicit: a visible "AI生成" mark stamped in the corner of images and video frames, when the operator switches it on
(STUDIO_AI_LABEL). The mark is a pre-rendered PNG (scripts/make_ai_label.py), so no CJK font is needed.
"""
from __future__ import annotations

import functools
import json

from PIL import Image

from studio.core.config import settings
from studio.core.registry import ASSETS


KEY = "AIGC"


def record(content_id: str) -> dict:
    """The implicit label of one output (content_id: its file name, unique per output)."""
    producer = settings().content_producer
    return {"Label": "1", "ContentProducer": producer, "ProduceID": content_id, "ReservedCode1": "",
            "ContentPropagator": producer, "PropagateID": content_id, "ReservedCode2": ""}


def text(content_id: str) -> str:
    return json.dumps(record(content_id), ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=1)
def _mark() -> Image.Image:
    return Image.open(ASSETS / "label" / "ai-label.png").convert("RGBA")


def stamp(image: Image.Image) -> Image.Image:
    """The image with the visible mark in its bottom-right corner (about 1/12 of its height, at least 12 px)."""
    mark = _mark()
    height = max(12, image.height // 12)
    mark = mark.resize((max(1, round(mark.width * height / mark.height)), height), Image.Resampling.LANCZOS)
    margin = max(2, height // 4)
    out = image.convert("RGBA")
    out.alpha_composite(mark, (max(0, out.width - mark.width - margin), max(0, out.height - height - margin)))
    stamped = out.convert(image.mode if image.mode in ("RGB", "RGBA", "L") else "RGB")
    stamped.info.update(image.info)
    return stamped


def explicit_on() -> bool:
    return bool(settings().ai_label)


def maybe_stamp(image: Image.Image) -> Image.Image:
    return stamp(image) if explicit_on() else image
