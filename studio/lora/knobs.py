"""The LoRA training knobs: their ranges (KNOBS), read by train_lora's checks and by the 微调 sliders.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, setting, table


KNOBS = table(
    Knob("rank", 1, 64, 1, (4, 64), integer=True),  # the course's default: 8
    Knob("alpha", 0.1, 256, 0.1),  # scale = alpha / rank; usually alpha = rank
    Knob("steps", 1, setting("max_lora_steps"), 1, (100, 2000), integer=True),  # STUDIO_MAX_LORA_STEPS
    Knob("batch_size", 1, 8, 1, (1, 4), integer=True),
)
