"""The text tab's knobs: their ranges (KNOBS) and the sampling defaults of a model.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, setting, table
from studio.core.specs import ModelSpec


DEFAULTS = dict(temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=256, repetition_penalty=1.0)

# The sliders of 文本生成 and the checks of generate_text / stream_text / chat (studio.text.sampling.Sampling).
KNOBS = table(
    Knob("temperature", 0, 2, 0.05, (0.6, 0.9)),  # 0 = greedy
    Knob("top_k", 0, 1000, 1, (20, 50), integer=True),  # 0 = off
    Knob("top_p", 0.01, 1, 0.01, (0.8, 0.95)),  # 1 = off
    Knob("repetition_penalty", 1, 2, 0.01, (1.05, 1.2)),  # 1 = off
    Knob("max_new_tokens", 1, setting("max_new_tokens"), 1, integer=True),  # STUDIO_MAX_NEW_TOKENS
)


def defaults(spec: ModelSpec) -> dict:
    return dict(DEFAULTS)
