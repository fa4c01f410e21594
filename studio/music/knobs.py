"""The music tab's knobs: their ranges (KNOBS), read by generate_music's checks and by the 音乐生成 sliders.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, table
from studio.core.specs import ModelSpec


# Sampling as in 文本生成 (the lesson: the same knobs drive a melody), then the course's 结构 (bars) and 表现 (tempo,
# velocity) controls of a symbolic model, and the length and guidance of an audio model.
KNOBS = table(
    Knob("temperature", 0, 2, 0.05, (0.8, 1.1)),  # 0 = greedy
    Knob("top_k", 0, 1000, 1, (0, 250), integer=True),  # 0 = off
    Knob("top_p", 0.01, 1, 0.01, (0.9, 1)),  # 1 = off
    Knob("bars", 1, 32, 1, (8, 16), integer=True),  # mini-melody: 32 bars of 2/4 fill its context
    Knob("tempo", 40, 208, 1, (60, 120), integer=True),  # quarter notes per minute
    Knob("velocity", 1, 127, 1, (60, 110), integer=True),  # MIDI 力度
    Knob("duration", 1, 30, 1, (5, 15)),  # seconds of audio (MusicGen was trained on 30 s clips)
    Knob("guidance", 1, 10, 0.5, (3, 5)),  # MusicGen's classifier-free guidance
)

MELODY_SECONDS = 30  # MusicGen melody reads a tune's chroma over its first 30 s (235 frames)

DEFAULTS = dict(temperature=1.0, top_k=0, top_p=1.0, bars=16, tempo=90, instrument="guzheng", velocity=90,
                duration=8.0, guidance=3.0)


def defaults(spec: ModelSpec) -> dict:
    return dict(DEFAULTS)
