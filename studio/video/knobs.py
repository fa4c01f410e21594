"""The video tab's knobs: their ranges (KNOBS), and the defaults and limits of a model, by pipeline family.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

from studio.core.knobs import Knob, setting, table
from studio.core.registry import cards
from studio.core.specs import ModelSpec


# Wan2.1 (the task's default family): 4k+1 frames, sides in multiples of 16.
DEFAULTS = dict(width=832, height=480, num_frames=33, fps=16, steps=30, cfg_scale=5.0, max_side=1280,
                max_frames=81, negative_prompt="low quality, watermark, glitch", frame_step=4, size_multiple=16)
# ModelScope's text-to-video-ms-1.7b (TextToVideoSDPipeline): any frame count, sides in multiples of 8, 256 native.
# No flow shift (a DDPM-style scheduler): None hides the control and the API says it is ignored.
T2V_SD_DEFAULTS = dict(width=256, height=256, num_frames=16, fps=8, steps=25, cfg_scale=9.0, max_side=512,
                       max_frames=64, frame_step=1, size_multiple=8, flow_shift=None)
# AnimateDiff (SD 1.5 and a motion adapter): 16 frames at 512, at most its motion modules' 32 frame positions.
ANIMATEDIFF_DEFAULTS = dict(T2V_SD_DEFAULTS, width=512, height=512, cfg_scale=7.5, max_side=1024, max_frames=32)
UNET_VIDEO_DEFAULTS = {"t2v-sd": T2V_SD_DEFAULTS, "animatediff": ANIMATEDIFF_DEFAULTS}


def max_side() -> int:
    """The widest side any listed video model allows (Wan: 1280); each model's own cap is checked by validate.size."""
    return max(c.defaults.get("max_side", DEFAULTS["max_side"]) for c in cards("video"))


# The sliders of 文生视频 and the checks of generate_video; advice: the course's recommended range (Wan).
KNOBS = table(
    Knob("width", 16, max_side, 16),  # sides and frames: rounded and capped per model by validate.size / .frames
    Knob("height", 16, max_side, 16),
    Knob("num_frames", 1, setting("max_frames"), None, (17, 81), integer=True),  # step: the model's frame_step
    Knob("fps", 1, 60, 1, (8, 16), integer=True),
    Knob("steps", 1, setting("max_steps"), 1, (30, 50), integer=True),
    Knob("cfg_scale", 1, 30, 0.5, (5, 6)),
    Knob("flow_shift", 0.5, 20, 0.5, (3, 5)),
)


def defaults(spec: ModelSpec) -> dict:
    return {**DEFAULTS, **UNET_VIDEO_DEFAULTS.get(spec.loader, {})}
