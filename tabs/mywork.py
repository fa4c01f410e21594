"""我的作品 / My work: every file this browser made, in any tab, listed again after a reload or a restart.

The files stay in the outputs folder; `studio.core.history` keeps one list per browser id (gr.BrowserState). A
run's handler stashes what it saved with what made it (`stash(request, items, kind=..., prompt=..., seed=...)`);
the tab's event is registered with `ui.on_saved`, and `build` wires each one to `remember`, which files the stash
under the browser's id once the run succeeded. Another browser never sees it. The tab shows the pictures (captions:
tab, prompt, seed) and a table of every entry (时间 | 来自 | 内容 | 文件) in the page's language, experiments'
results (X/Y 图, LoRA 对比, 韵律对比, 固定音色, 多角色对话) included.
"""
from __future__ import annotations

import numbers
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.api.web import files, history

from .strings import STRINGS
from .ui import UI, Page, s


IMAGES = (".png", ".jpg", ".jpeg", ".webp")
PROMPT_CHARS = 60  # of a prompt or text kept with an entry
# session -> (saved file, caption, what made it) of its latest runs. API clients never trigger `remember`, so both
# the sessions and each one's list are capped (oldest dropped).
_made: OrderedDict[str, list[tuple[str, str, dict]]] = OrderedDict()
_SESSIONS, _PER_SESSION = 1000, 64
_lock = threading.Lock()


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "local"


def _short(text) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= PROMPT_CHARS else text[:PROMPT_CHARS - 1] + "…"


def _seed(value):
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def stash(request, items: list[tuple], *, kind: str = "", prompt: str = "", seed=None) -> None:
    """What one run saved, filed by `remember`. items: (file, caption) or (file, caption, prompt[, seed]) — a None
    file (a result not saved) is skipped. `kind` names the tab, or tab.experiment ("image", "image.grid",
    "speech.prosody": tabs.strings "tab.<tab>" and "mywork.kind.<kind>"); `prompt` and `seed` are for the items
    that bring none of their own; a caption is a short label of the item within its run ("rate 130"), or ""."""
    new = []
    for path, caption, *own in items:
        if path:
            detail = {"kind": kind, "prompt": _short(own[0] if own else prompt),
                      "seed": _seed(own[1] if len(own) > 1 else seed)}
            new.append((str(path), caption or "", detail))
    with _lock:
        made = _made.pop(_session(request), []) + new
        _made[_session(request)] = made[-_PER_SESSION:]
        while len(_made) > _SESSIONS:
            _made.popitem(last=False)


def forget(session: str) -> None:
    """A closed page's unfiled saves go (tabs.sessions calls this)."""
    with _lock:
        _made.pop(session, None)


def source(kind: str, lang: str) -> str:
    """Where an entry came from in the page's language: "文生图", "语音合成 · 韵律对比"; "" when not recorded."""
    if not kind:
        return ""
    tab, _, part = kind.partition(".")
    name = s(f"tab.{tab}", lang) if f"tab.{tab}" in STRINGS else tab
    if part:
        name += " · " + (s(f"mywork.kind.{kind}", lang) if f"mywork.kind.{kind}" in STRINGS else part)
    return name


def _content(entry: dict) -> str:
    seed = f"seed {entry['seed']}" if entry["seed"] is not None else ""
    return " · ".join(x for x in (entry["prompt"], entry["caption"], seed) if x)


def _caption(entry: dict, lang: str) -> str:
    """A picture's caption: where it came from, its prompt (and seed); an entry from before: its file name."""
    if not entry["kind"]:
        return Path(entry["path"]).name
    return " · ".join(x for x in (source(entry["kind"], lang), _content(entry)) if x)


def _when(stamp) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if isinstance(stamp, (int, float)) else ""


def table(entries: list[dict], lang: str) -> pd.DataFrame:
    """时间 | 来自 | 内容 | 文件, one row an entry, headers and tab names in the page's language."""
    rows = [[_when(e["time"]), source(e["kind"], lang), _content(e), Path(e["path"]).name] for e in entries]
    return pd.DataFrame(rows, columns=s("mywork.cols", lang).split("|"))


def views(browser_id: str, lang: str = "zh") -> tuple[list[tuple[str, str]], pd.DataFrame, list[str]]:
    """(pictures with captions, the table of every entry, every file) of this browser, newest first."""
    entries = [e for e in history.entries(browser_id) if files.may_open(e["path"])]  # the asker's own (or operator)
    pictures = [(e["path"], _caption(e, lang)) for e in entries if e["path"].lower().endswith(IMAGES)]
    return pictures, table(entries, lang), [e["path"] for e in entries]


def recall(browser_id, lang: str = "zh"):
    """On page load: this browser's work (a new id for a browser seen for the first time). Returns (id, pictures,
    files, pictures again for the 文生图 tab's gallery, the table of every entry)."""
    if not history.valid(browser_id):
        browser_id = history.new_id()
    pictures, rows, saved = views(browser_id, lang)
    return browser_id, pictures, saved or None, pictures, rows


def remember(browser_id, request: gr.Request = None, lang: str = "zh"):
    """After a run: what it saved joins this browser's list; returns what `recall` does."""
    if not history.valid(browser_id):
        browser_id = history.new_id()
    with _lock:
        made = _made.pop(_session(request), [])
    history.add(browser_id, [p for p, _, _ in made], [c for _, c, _ in made], [d for _, _, d in made])
    return recall(browser_id, lang)


def relabel(lang: str, browser_id):
    """A language switch: the captions and the table in the new language (the files stay)."""
    if not history.valid(browser_id):
        return gr.skip(), gr.skip(), gr.skip()
    pictures, rows, _ = views(browser_id, lang)
    return pictures, pictures, rows


def build(ui: UI, page: Page) -> None:
    """The tab, and the wiring of every registered run to it (and to the 文生图 tab's own history gallery)."""
    lang, demo, browser_id = page.lang, page.demo, page.browser_id
    ui.md("mywork.intro")
    pictures = ui.add(gr.Gallery, "mywork.pictures", columns=6, fit_columns=False, height=300, object_fit="contain",
                      format="png", preview=False, interactive=False,
                      elem_classes="studio-pixels")  # small cells, so each caption shows; 64 px crisp (app.py)
    rows = ui.add(gr.Dataframe, "mywork.table", value=table([], ui.lang), interactive=False, wrap=True,
                  column_widths=["16%", "20%", "44%", "20%"], max_height=420,
                  elem_id="mywork_table", elem_classes="studio-free")  # prompts as typed
    saved = ui.add(gr.File, "mywork.files", file_count="multiple", interactive=False)
    image_gallery = ui.history_gallery or gr.State()
    outputs = [browser_id, pictures, saved, image_gallery, rows]
    for event in ui.saved_events:
        event.success(remember, [browser_id, lang], outputs, api_visibility="private")
    demo.load(recall, [browser_id, lang], outputs, api_visibility="private")
    ui.on_switch(relabel, [browser_id], [pictures, image_gallery, rows])
