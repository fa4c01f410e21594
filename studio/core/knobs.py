"""A model's defaults and limits for its tab and its API calls.

Each modality keeps its own tables in studio/<task>/knobs.py: `KNOBS`, its knobs declared once (range, step, the
course's advice), read both by the API's validation (`Knob.check`) and by the tab's sliders (`Knob.slider`); and,
for image / text / video, `defaults(spec)`. This module names those by task as strings and imports one on first
use, so core imports no modality.

Read-only table: the tabs read it directly (tabs/ imports only studio.api, studio.api.web and such tables).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from studio.core import validate
from studio.core.config import settings
from studio.core.specs import resolve


Bound = float | Callable[[], float]  # a number, or a function for a limit the operator sets (settings)


@dataclass(frozen=True)
class Knob:
    """One knob: `name` as the API's validation names it (its parameter name; ChatTTS's pause is "break"), the
    accepted range [low, high], the slider's step (None: the model's own, given by the tab, e.g. Wan's 4k+1 frames)
    and the course's advice (a recommended (low, high), or None), which the tab's info= text states."""
    name: str
    low: Bound
    high: Bound
    step: float | None = 1
    advice: tuple[float, float] | None = None
    integer: bool = False

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) now: a bound that is a function is read from the current settings."""
        return tuple(b() if callable(b) else b for b in (self.low, self.high))

    def check(self, value):
        """`value` inside the range as an int or float, or StudioError (bad_number / out_of_range) naming it."""
        low, high = self.bounds
        return validate.number(self.name, value, low, high, int if self.integer else float)

    def slider(self) -> dict:
        """A gr.Slider's minimum / maximum / step."""
        low, high = self.bounds
        return dict(minimum=low, maximum=high) | ({} if self.step is None else {"step": self.step})


def setting(name: str) -> Callable[[], float]:
    """A bound read from the server's settings when used (STUDIO_MAX_STEPS ... change without a restart in tests)."""
    return lambda: getattr(settings(), name)


def table(*knobs: Knob) -> dict[str, Knob]:
    """A modality's KNOBS, by name."""
    return {k.name: k for k in knobs}


TASK_KNOBS = {"image": "studio.image.knobs", "text": "studio.text.knobs", "video": "studio.video.knobs",
              "music": "studio.music.knobs"}


def model_defaults(model: str) -> dict:
    """The tab defaults and limits of a model (image: size, steps, CFG, sampler, largest side; text: sampling)."""
    spec = resolve(model)
    module = TASK_KNOBS.get(spec.task)
    base = importlib.import_module(module).defaults(spec) if module else {}
    return {**base, **spec.defaults()}
