"""The speech tab's knobs: their ranges (KNOBS), read by synthesize_speech's checks and by the 语音合成 sliders.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, table


# ChatTTS's refine-text tokens ([oral_N] [laugh_N] [break_N] [speed_N]) and sampling, then eSpeak's voice. The
# course's defaults (the tab's values and the API's) are oral 2, laugh 0, break 6, speed 5, temperature 0.3,
# top_p 0.7, top_k 20, rate 175, pitch 50, volume 100. `break` is synthesize_speech's `pause`, named as ChatTTS does.
KNOBS = table(
    Knob("oral", 0, 9, 1, integer=True),
    Knob("laugh", 0, 2, 1, integer=True),
    Knob("break", 0, 7, 1, integer=True),
    Knob("speed", 0, 9, 1, integer=True),
    Knob("temperature", 0.01, 1.5, 0.01),
    Knob("top_p", 0.01, 1, 0.01, (0.5, 0.9)),
    Knob("top_k", 1, 100, 1, (10, 50), integer=True),
    Knob("rate", 80, 450, 5, (120, 250), integer=True),
    Knob("pitch", 0, 99, 1, integer=True),
    Knob("volume", 0, 200, 5, integer=True),
)
