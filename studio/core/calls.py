"""What every modality's API shares: the caller's language, a run's stop flag, the model a call names."""
from __future__ import annotations

from typing import Callable

from studio.core import hub
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.registry import CARDS
from studio.core.specs import ModelSpec, resolve


Progress = Callable[[float, str], None]
PROMPT_CAP = 4000


def caller_lang(lang: str | None) -> str:
    """The language a call asked for, else the server's default."""
    return lang if lang in ("zh", "en") else settings().lang


def check_stop(stop) -> None:
    """Raise "stopped" once a run's stop flag (a threading.Event, or None) is set: long calls check it between
    steps, grid cells, items and pictures, and before they save anything."""
    if stop is not None and stop.is_set():
        raise StudioError("stopped")


def known_card(key: str):
    """The registry's card of `key`, or a message listing the known models and where folders are looked for."""
    if key not in CARDS:
        raise StudioError("unknown_model", model=key, choices=", ".join(CARDS),
                          dirs=", ".join(str(d) for d in hub.model_dirs()))
    return CARDS[key]


def task_spec(model: str, task: str) -> ModelSpec:
    """The model a tab's call names, refused with a message when it is for another task."""
    spec = resolve(model)
    if spec.task != task:
        raise StudioError("wrong_task", model=model, got=spec.task, want=task)
    return spec
