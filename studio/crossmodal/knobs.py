"""The 跨模态 tab's knobs: their ranges (KNOBS), read by the story API's checks and by the tab's sliders.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, table
from studio.crossmodal.story import MAX_SHOTS, MIN_SHOTS


KNOBS = table(
    Knob("count", 1, 4, 1, integer=True),  # story_images: pictures to pick from
    Knob("seed_step", 0, 1000, 1, (1, 3), integer=True),  # write_series: part i uses seed + i x step
    Knob("shots", MIN_SHOTS, MAX_SHOTS, 1, (4, 6), integer=True),  # storyboard: 4-6 for a 60-second video
)
