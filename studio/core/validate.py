"""Turning what a user typed into checked values, or a StudioError that says what is wrong."""
from __future__ import annotations

import math
import random

from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.i18n import t


MAX_SEED = 2**32 - 1


def number(name: str, value, low: float, high: float, kind=float):
    """`value` (a number or numeric text) as `kind`, inside [low, high]."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
        if math.isnan(number) or math.isinf(number):
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
        raise StudioError("bad_number", name=name, value=value) from None
    if kind is int:
        if number != int(number):
            raise StudioError("bad_number", name=name, value=value)
        number = int(number)
    if not low <= number <= high:
        raise StudioError("out_of_range", name=name, low=low, high=high, value=value)
    return number


def flag(name: str, value) -> bool:
    """A switch: True / False (None: off; 0 / 1 and "true" / "false" as a form or a script sends them)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "0", "false"):
        return text in ("1", "true")
    raise StudioError("out_of_range", name=name, low=False, high=True, value=str(value)[:60])


def seed(value, lang: str, notices: list[str]) -> int:
    """-1 (or empty) picks a random seed, and says which one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        value = -1
    chosen = number("seed", value, -1, MAX_SEED, int)
    if chosen == -1:
        chosen = random.randint(0, MAX_SEED)
        notices.append(t("notice_seed_random", lang, seed=chosen))
    return chosen


def size(width, height, max_side: int, lang: str, notices: list[str], multiple: int = 8) -> tuple[int, int]:
    """Round to the nearest multiple (with a notice); refuse what is beyond the model's cap."""
    w = number("width", width, multiple, 100_000, float)
    h = number("height", height, multiple, 100_000, float)
    new_w, new_h = (max(multiple, int(round(v / multiple)) * multiple) for v in (w, h))
    if max(new_w, new_h) > max_side:
        raise StudioError("size_too_big", width=int(w), height=int(h), cap=max_side, pixels=max_side * max_side)
    pixels(new_w, new_h)
    if (new_w, new_h) != (w, h):
        notices.append(t("notice_size_rounded", lang, width=_show(w), height=_show(h), new_width=new_w,
                         new_height=new_h, multiple=multiple))
    return new_w, new_h


def pixels(width: int, height: int) -> None:
    """The server's pixel limit per image / frame (STUDIO_MAX_PIXELS)."""
    cap = settings().max_pixels
    if width * height > cap:
        raise StudioError("over_pixel_limit", width=width, height=height, pixels=width * height, cap=cap)


def _show(v: float):
    return int(v) if v == int(v) else v


def text(name: str, value, cap: int) -> str:
    """Text up to `cap` characters, and never past the server's limit (STUDIO_MAX_TEXT). Negative prompts name
    what to avoid, so the operator's blocklist checks every text but them."""
    value = "" if value is None else str(value)
    cap = min(cap, settings().max_text)
    if len(value) > cap:
        raise StudioError("prompt_too_long", length=len(value), cap=cap)
    from studio.core import blocklist
    return value if name.startswith("negative") else blocklist.check(value)


def option(name: str, value, choices, key: str = "bad_choice", **params) -> str:
    """One of `choices` (a string); anything else gets `key`'s message listing the choices."""
    if not isinstance(value, str) or value not in choices:
        shown = value if isinstance(value, str) else repr(value)[:60]
        raise StudioError(key, name=name, value=shown, choices=", ".join(map(str, choices)), **params)
    return value


def items(name: str, value, cap: int = 1000) -> list:
    """A list (or tuple) of at most `cap` items, as a list; anything else gets a message naming the parameter."""
    if not isinstance(value, (list, tuple)):
        raise StudioError("bad_list", name=name, value=repr(value)[:60])
    if len(value) > cap:
        raise StudioError("out_of_range", name=name, low=0, high=cap, value=len(value))
    return list(value)


def mapping(name: str, value) -> dict:
    """A dict (None: empty); anything else gets a message naming the parameter."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudioError("bad_mapping", name=name, value=repr(value)[:60])
    return value


def frames(value, step: int, cap: int, lang: str, notices: list[str]) -> int:
    """A frame count of the form step * k + 1 (Wan: 4k + 1), rounded to the nearest with a notice."""
    asked = number("num_frames", value, 1, 100_000, int)
    new = max(1, int(round((asked - 1) / step)) * step + 1)
    cap = min(cap, settings().max_frames)
    if new > cap:
        raise StudioError("too_many_frames", frames=asked, cap=cap)
    if new != asked:
        notices.append(t("notice_frames_rounded", lang, frames=asked, new=new, step=step))
    return new
