"""What the API's modules share: the caller's language, the model a call names, and model defaults."""
from __future__ import annotations

import json
from typing import Callable

from .. import hub
from .. import samplers as _samplers
from ..config import settings
from ..errors import StudioError
from ..models import ModelSpec, resolve
from ..registry import CARDS

Progress = Callable[[float, str], None]
PROMPT_CAP = 4000


def _lang(lang: str | None) -> str:
    return lang if lang in ("zh", "en") else settings().lang


def check_stop(stop) -> None:
    """Raise "stopped" once a run's stop flag (a threading.Event, or None) is set: long calls check it between
    steps, grid cells, items and pictures, and before they save anything."""
    if stop is not None and stop.is_set():
        raise StudioError("stopped")


_TASK_DEFAULTS = {
    "image": dict(width=512, height=512, steps=25, cfg_scale=7.0, sampler=_samplers.DEFAULT, max_side=1024),
    "text": dict(temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=256, repetition_penalty=1.0),
    "video": dict(width=832, height=480, num_frames=33, fps=16, steps=30, cfg_scale=5.0, max_side=1280,
                  max_frames=81, negative_prompt="low quality, watermark, glitch", frame_step=4, size_multiple=16),
}
# ModelScope's text-to-video-ms-1.7b (TextToVideoSDPipeline): any frame count, sides in multiples of 8, 256 native.
# No flow shift (a DDPM-style scheduler): None hides the control and the API says it is ignored.
T2V_SD_DEFAULTS = dict(width=256, height=256, num_frames=16, fps=8, steps=25, cfg_scale=9.0, max_side=512,
                       max_frames=64, frame_step=1, size_multiple=8, flow_shift=None)
# AnimateDiff (SD 1.5 and a motion adapter): 16 frames at 512, at most its motion modules' 32 frame positions.
ANIMATEDIFF_DEFAULTS = dict(T2V_SD_DEFAULTS, width=512, height=512, cfg_scale=7.5, max_side=1024, max_frames=32)
UNET_VIDEO_DEFAULTS = {"t2v-sd": T2V_SD_DEFAULTS, "animatediff": ANIMATEDIFF_DEFAULTS}


def model_defaults(model: str) -> dict:
    """The tab defaults and limits of a model (image: size, steps, CFG, sampler, largest side; text: sampling)."""
    spec = resolve(model)
    base = dict(_TASK_DEFAULTS.get(spec.task, {}))
    if spec.task == "image" and spec.path is not None and not spec.card:
        base.update(_folder_image_defaults(spec))
    base.update(UNET_VIDEO_DEFAULTS.get(spec.loader, {}))
    return {**base, **spec.defaults()}


def _folder_image_defaults(spec: ModelSpec) -> dict:
    """A local pipeline folder's native size, from its own configs (UNet sample size x VAE scale)."""
    try:
        unet = json.loads((spec.path / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((spec.path / "vae" / "config.json").read_text(encoding="utf-8"))
        native = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"width": native, "height": native, "max_side": max(1024, 2 * native)}


def _card(key: str):
    if key not in CARDS:
        raise StudioError("unknown_model", model=key, choices=", ".join(CARDS),
                          dirs=", ".join(str(d) for d in hub.model_dirs()))
    return CARDS[key]


def _spec(model: str, task: str) -> ModelSpec:
    """The model a tab's call names, refused with a message when it is for another task."""
    spec = resolve(model)
    if spec.task != task:
        raise StudioError("wrong_task", model=model, got=spec.task, want=task)
    return spec

