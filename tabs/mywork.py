"""我的作品 / My work: every file this browser made, in any tab, listed again after a reload or a restart.

The files stay in the outputs folder; `studio.history` keeps one list per browser id (gr.BrowserState). A
run's handler stashes what it saved (`stash`); the tab's event is registered with `ui.on_saved`, and `build`
wires each one to `remember`, which files the stash under the browser's id once the run succeeded. Another
browser never sees it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from studio import files, history

from .ui import UI

IMAGES = (".png", ".jpg", ".jpeg", ".webp")
# session -> (saved file, caption) of its latest runs. API clients never trigger `remember`, so both the sessions
# and each one's list are capped (oldest dropped).
_made: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
_SESSIONS, _PER_SESSION = 1000, 64
_lock = threading.Lock()


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "local"


def stash(request, items: list[tuple]) -> None:
    """(file, caption) pairs one run saved (a None file, a result not saved, is skipped); filed by `remember`."""
    new = [(str(path), caption) for path, caption in items if path]
    with _lock:
        made = _made.pop(_session(request), []) + new
        _made[_session(request)] = made[-_PER_SESSION:]
        while len(_made) > _SESSIONS:
            _made.popitem(last=False)


def forget(session: str) -> None:
    """A closed page's unfiled saves go (tabs.sessions calls this)."""
    with _lock:
        _made.pop(session, None)


def views(browser_id: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(pictures with captions, every file) of this browser, newest first."""
    items = [(p, c) for p, c in history.items(browser_id) if files.may_open(p)]  # the asker's own (or operator)
    return [(p, c) for p, c in items if p.lower().endswith(IMAGES)], [p for p, _ in items]


def recall(browser_id):
    """On page load: this browser's work (a new id for a browser seen for the first time).
    Returns (id, pictures, files, pictures again for the 文生图 tab's gallery)."""
    if not history.valid(browser_id):
        browser_id = history.new_id()
    pictures, files = views(browser_id)
    return browser_id, pictures, files or None, pictures


def remember(browser_id, request: gr.Request = None):
    """After a run: what it saved joins this browser's list; returns what `recall` does."""
    if not history.valid(browser_id):
        browser_id = history.new_id()
    with _lock:
        made = _made.pop(_session(request), [])
    history.add(browser_id, [p for p, _ in made], [c or Path(p).name for p, c in made])
    return recall(browser_id)


def build(ui: UI, lang: gr.State, demo: gr.Blocks, browser_id: gr.BrowserState) -> None:
    """The tab, and the wiring of every registered run to it (and to the 文生图 tab's own history gallery)."""
    ui.md("mywork.intro")
    pictures = ui.add(gr.Gallery, "mywork.pictures", columns=8, height=260, object_fit="contain", format="png",
                      preview=False, interactive=False)
    files = ui.add(gr.File, "mywork.files", file_count="multiple", interactive=False)
    outputs = [browser_id, pictures, files, ui.history_gallery or gr.State()]
    for event in ui.saved_events:
        event.success(remember, browser_id, outputs, api_visibility="private")
    demo.load(recall, browser_id, outputs, api_visibility="private")
