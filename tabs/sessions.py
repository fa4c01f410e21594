"""Browser tabs that closed: what the server kept for them is freed, so memory does not grow with every visit.

Gradio keeps a SessionState per browser session (every component's config, gr.State values: about 0.8 MB for
this app) until 10,000 sessions exist, an hour's grace after the page closed changing nothing about that; the
tabs keep a stop flag per session (tabs.runner.Stops) and the files a run saved (tabs.mywork). `install` adds a
`demo.unload` listener (Gradio runs it when a page's heartbeat ends: the tab closed, reloaded, or lost its
connection). A closed session joins a pool of the STUDIO_CLOSED_SESSIONS newest ones, kept in case the page comes
back (a dropped connection: Gradio's page goes on with the same session, without a heartbeat); one pushed out of
the pool is freed, unless its page was used again after it closed (then it is a live page: Gradio's own session
cap bounds it).
"""
from __future__ import annotations

import datetime as _dt
import threading
import time
from collections import OrderedDict
from typing import Callable

import gradio as gr

from studio.api.web import settings


_closed: OrderedDict[str, float] = OrderedDict()  # session -> when its page closed, oldest first
_lock = threading.Lock()
_forgetters: list[Callable[[str], None]] = []  # per-session stores of the tabs, each given a session to drop


def on_forget(fn: Callable[[str], None]) -> Callable[[str], None]:
    """Register fn(session_hash), called when a closed session is freed."""
    _forgetters.append(fn)
    return fn


def _used_since(demo: gr.Blocks, session: str, closed_at: float) -> bool:
    last = demo.state_holder.time_last_used.get(session)
    return last is not None and last > _dt.datetime.fromtimestamp(closed_at) + _dt.timedelta(seconds=1)


def forget(demo: gr.Blocks, session: str) -> None:
    """Drop everything the server holds for one session: Gradio's SessionState and the tabs' per-session values."""
    holder = demo.state_holder
    with holder.lock:
        holder.session_data.pop(session, None)
        holder.time_last_used.pop(session, None)
    for fn in list(_forgetters):
        fn(session)


def closed(demo: gr.Blocks, session: str | None) -> list[str]:
    """A page closed: pool it, and free the sessions pushed out of the pool; returns the freed ones."""
    if not session:
        return []
    keep, freed = max(0, int(settings().closed_sessions)), []
    with _lock:
        _closed.pop(session, None)
        _closed[session] = time.time()
        out = []
        while len(_closed) > keep:
            out.append(_closed.popitem(last=False))
    for old, closed_at in out:
        if not _used_since(demo, old, closed_at):
            forget(demo, old)
            freed.append(old)
    return freed


def install(demo: gr.Blocks) -> None:
    """Call inside `with demo:` (after every tab is built)."""
    def unload(request: gr.Request):
        from . import runner
        # The page's runs end at their next step: Gradio stops iterating a streamed run of a closed page, but it
        # lets an awaited one (runner.run: 文生视频, the temperature experiment...) run on, holding the GPU slot.
        for stops in list(runner.Stops.instances):
            stops.stop(request)
        closed(demo, getattr(request, "session_hash", None))
    demo.unload(unload)


def _forget_tabs(session: str) -> None:
    from . import mywork, runner
    for stops in list(runner.Stops.instances):
        stops.forget(session)
    mywork.forget(session)


on_forget(_forget_tabs)
