"""What the built-in mini models cannot show, said beside the control where it bites, before a run (issue 36 item 6).

Each note is shown only while its mini model is the one picked; the prompt builder offers mini-shapes' own words
(those of its training captions, studio.image.shapes) above the course's general keyword library. The limits are those
of the model cards (assets/models/mini-shapes/README.md, mini-motion/README.md): mini-shapes knows 64x64 pictures of
one shape and was not trained for negative prompts; mini-motion was trained on 8 frames.
"""
from __future__ import annotations

import gradio as gr

from studio.api.web import COLOURS, POSITIONS, SHAPES, SIZES, describe_shapes

from .ui import s


MINI_IMAGE = "mini-shapes"
MINI_VIDEO = "mini-motion"
TRAINED_FRAMES = 8  # mini-motion's clips in training (its card)
CHIP_KEYS = ("shape", "colour", "size", "position", "background")


def image_notes(model, lang: str) -> tuple[dict, dict]:
    """The negative prompt's and the hires fix's notes for `model` (hidden for any model but mini-shapes)."""
    shown = model == MINI_IMAGE
    return (gr.update(value=s("limits.negative", lang), visible=shown),
            gr.update(value=s("limits.hires", lang), visible=shown))


def frames_note(model, frames, lang: str) -> dict:
    """The frames control's note for `model`: mini-motion's 8 trained frames, and the count chosen when past them."""
    if model != MINI_VIDEO:
        return gr.update(visible=False)
    text = s("limits.frames", lang)
    try:
        count = int(frames)
    except (TypeError, ValueError):
        count = TRAINED_FRAMES
    if count > TRAINED_FRAMES:
        text += "\n\n" + s("limits.frames_over", lang, frames=count)
    return gr.update(value=text, visible=True)


def _position_en(position: str) -> str:
    return "in the center" if position == "center" else f"on the {position}"


def shape_chips(lang: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """mini-shapes' words as its training captions write them, per attribute: (key, [(label in `lang`, value)]).
    The values are the English words, so a pick survives a language switch."""
    def word(zh: str, en: str) -> str:
        return zh if lang == "zh" else en
    return [
        ("shape", [(word(zh, en), en) for en, zh in SHAPES.items()]),
        ("colour", [(word(zh, en), en) for en, (zh, _rgb) in COLOURS.items()]),
        ("size", [(word(zh, en), en) for en, zh in SIZES.items()]),
        ("position", [(word(zh, _position_en(en)), en) for en, zh in POSITIONS.items()]),
        ("background", [(word(f"{zh}背景", f"{en} background"), en) for en, (zh, _rgb) in COLOURS.items()]),
    ]


def describe(shape, colour, size, position, background, out_lang: str) -> str:
    """The chosen words as one training caption (studio.image.shapes.describe); nothing chosen: ""."""
    picked = {k: v for k, v in zip(CHIP_KEYS, (shape, colour, size, position, background)) if v}
    return describe_shapes(picked, "zh" if out_lang == "zh" else "en") if picked else ""


def note_args(update: dict) -> dict:
    """A note's update as gr.Markdown's arguments, to build it as first shown."""
    return {k: v for k, v in update.items() if k in ("value", "visible")}
