"""The image tab's knobs: their ranges (KNOBS), and the defaults and limits of a model.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

import json

from studio.core.knobs import Knob, setting, table
from studio.core.registry import cards
from studio.core.specs import ModelSpec
from studio.image import samplers


DEFAULTS = dict(width=512, height=512, steps=25, cfg_scale=7.0, sampler=samplers.DEFAULT,
                schedule_type=samplers.DEFAULT_SCHEDULE, max_side=1024)


def max_side() -> int:
    """The widest side any listed image model allows (SDXL: 2048); each model's own cap (its defaults' max_side)
    is checked by validate.size with a message."""
    return max(c.defaults.get("max_side", 1024) for c in cards("image"))


# The sliders of 文生图 and the checks of generate_image; advice: the course's recommended range.
KNOBS = table(
    Knob("steps", 1, setting("max_steps"), 1, (20, 40), integer=True),
    Knob("cfg_scale", 1, 30, 0.5, (5, 10)),
    Knob("width", 8, max_side, 8),  # sides: rounded to multiples of 8, capped per model by validate.size
    Knob("height", 8, max_side, 8),
    Knob("batch_size", 1, setting("max_batch"), 1, integer=True),  # STUDIO_MAX_BATCH
    Knob("batch_count", 1, 16, 1, integer=True),
    Knob("denoising_strength", 0.01, 1, 0.01, (0.3, 0.8)),
    Knob("hires_scale", 1, 4, 0.25, (1.5, 2)),
    Knob("hires_steps", 0, setting("max_steps"), 1, (10, 20), integer=True),  # 0: as many as the first pass
    Knob("hires_strength", 0.01, 1, 0.01, (0.4, 0.7)),
    Knob("lora_weight", -2, 2, 0.05, (0.6, 1)),
    # ControlNet units (studio.image.control): weight, the share of the steps they act in, Canny's thresholds
    Knob("control_weight", 0, 2, 0.05, (0.5, 1.2)),
    Knob("control_start", 0, 1, 0.01, (0, 0.2)),
    Knob("control_end", 0, 1, 0.01, (0.7, 1)),
    Knob("canny_low", 1, 255, 1, (50, 150), integer=True),
    Knob("canny_high", 1, 255, 1, (150, 250), integer=True),
)


def defaults(spec: ModelSpec) -> dict:
    """The course's defaults; a local pipeline folder without a card: its own native size."""
    if spec.path is not None and not spec.card:
        return {**DEFAULTS, **folder_defaults(spec)}
    return dict(DEFAULTS)


def folder_defaults(spec: ModelSpec) -> dict:
    """A local pipeline folder's native size, from its own configs (UNet sample size x VAE scale)."""
    try:
        unet = json.loads((spec.path / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((spec.path / "vae" / "config.json").read_text(encoding="utf-8"))
        native = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"width": native, "height": native, "max_side": max(1024, 2 * native)}
