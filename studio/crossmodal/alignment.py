"""How well a picture matches its prompt.

CLIP score (clip-vit-b32, when it is on disk: never downloaded just to score): 100 x the cosine of the image
and text embeddings, floored at 0, as torchmetrics' CLIPScore defines it. For mini-shapes, whose world CLIP
does not know, the attribute analyser of its evaluation reads shape, colour, size, position and background
back from the picture; the score is the share of the attributes the prompt names that the picture shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

from studio.core import hub
from studio.core.registry import CARDS
from studio.image import shapes


CLIP_KEY = "clip-vit-b32"


@dataclass
class Alignment:
    method: str  # "clip" | "shapes" | "none"
    score: float | None  # CLIP: 0-100; shapes: 0-1 (share of the named attributes shown)
    detail: dict = field(default_factory=dict)  # shapes: attribute -> (asked, seen)

    def label(self, lang: str) -> str:
        if self.method == "clip":
            return f"CLIP score {self.score:.1f}"
        if self.method == "shapes":
            matched = sum(asked == seen for asked, seen in self.detail.values())
            word = "属性吻合" if lang == "zh" else "attributes match"
            return f"{word} {matched}/{len(self.detail)}"
        return "—"


def clip_available() -> bool:
    return hub.find_local(CARDS[CLIP_KEY]) is not None


def shapes_alignment(image: Image.Image, prompt: str) -> Alignment:
    asked = shapes.parse_prompt(prompt)
    if not asked:
        return Alignment("shapes", None, {})
    seen = shapes.analyse(image).as_dict()
    detail = {k: (v, seen.get(k)) for k, v in asked.items()}
    return Alignment("shapes", sum(a == b for a, b in detail.values()) / len(detail), detail)


def clip_score(clip, images: list[Image.Image], prompts: list[str]) -> list[float]:
    """CLIP scores of image i with prompt i (clip: a loaded studio.core.loaders.ModelWithProcessor)."""
    inputs = clip.processor(text=prompts, images=[im.convert("RGB") for im in images], return_tensors="pt",
                            padding=True, truncation=True)
    device = next(clip.model.parameters()).device
    with torch.no_grad():
        out = clip.model(**{k: v.to(device) for k, v in inputs.items()})
    image = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
    text = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
    return [max(0.0, 100 * float(s)) for s in (image * text).sum(dim=-1)]
