"""文生图's 实时: each page's latest picture request (生成 or 实时), so that a live redraw never replaces what a
later request drew, and one asking for nothing new is skipped.

Two ways a live redraw could replace 生成's pictures with one picture: it began before 生成 was clicked and ended
after it (the scheduler runs both), or the browser held back a knob's release while the previous redraw ran
(Gradio's trigger_mode "always_last") and sent it when that one ended, after 生成's click, asking for the very
settings 生成 had just used. So each request is noted when its event arrives, before it waits in the line; a
redraw shows its picture only if no request of the page came after it, and one whose settings equal the page's
latest request (also a knob released at its old value) does not run. A request that failed is forgotten: asking
again retries.
"""
from __future__ import annotations

import dataclasses
import threading

from . import sessions


_asked: dict[str, "Ask"] = {}  # browser session -> its latest picture request
_lock = threading.RLock()  # ask_live records while holding it


FIELDS = ("prompt", "negative_prompt", "model", "sampler", "steps", "cfg_scale", "seed", "width", "height", "mode",
          "hires_scale", "hires_upscaler", "hires_steps", "hires_strength", "loras", "lora_weight", "schedule_type",
          "use_old_scheduling", "control_1_on", "control_2_on")  # what a live redraw reads (and 生成 too)


def page_settings(values: dict) -> tuple:
    """The page values a live redraw reads, from a handler's arguments (生成's and 实时's share these names). The
    seed box as typed: -1 redraws the last run's seed, so the same box value asks for the same picture."""
    picked = {name: values.get(name) for name in FIELDS}
    picked.update(mode=picked["mode"] or "txt2img", seed=str(picked["seed"]),
                  loras=tuple(sorted(picked["loras"] or ())), use_old_scheduling=bool(picked["use_old_scheduling"]),
                  control_1_on=bool(picked["control_1_on"]), control_2_on=bool(picked["control_2_on"]))
    return tuple(picked[name] for name in FIELDS)


@dataclasses.dataclass(eq=False)  # told apart by identity: two requests of the same settings are two requests
class Ask:
    settings: tuple


def asked(request, values: dict) -> Ask:
    """生成 began with these page values: the page's latest request."""
    return _record(_session(request), Ask(page_settings(values)))


def ask_live(request, values: dict) -> Ask | None:
    """A live redraw of these page values, recorded as the page's latest request; None when the page's latest
    request asked for the same (nothing new to draw)."""
    ask, session = Ask(page_settings(values)), _session(request)
    with _lock:
        last = _asked.get(session)
        if session and last is not None and last.settings == ask.settings:
            return None
        return _record(session, ask)


def latest(request, ask: Ask) -> bool:
    """No request of the page came after this one: a live redraw that ends after a later 生成 (or redraw) began
    shows nothing, as its picture is no longer what the page asks for."""
    session = _session(request)
    return not session or _asked.get(session) is ask


def failed(request, ask: Ask) -> None:
    """The request ended in an error: its settings may be asked for again."""
    session = _session(request)
    with _lock:
        if session and _asked.get(session) is ask:
            del _asked[session]


def _record(session: str | None, ask: Ask) -> Ask:
    if session:
        with _lock:
            _asked[session] = ask
    return ask


def _session(request) -> str | None:
    return getattr(request, "session_hash", None) or None


@sessions.on_forget
def _forget(session: str) -> None:
    with _lock:
        _asked.pop(session, None)
