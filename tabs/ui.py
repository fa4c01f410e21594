"""What every tab shares: labels in two languages, the language switch, and error display.

Components are created through `UI`, which remembers how to re-label each one. The language radio re-labels them
in the browser (`relabel_js`: both languages' updates are in the page), not through the server: an event's outputs
stay in Gradio's loading-status table for the page's life, and each later event of the page walked all of them (and
every component inside each tab and accordion among them) twice, so a page switched to English stayed busy and
answered every click seconds late (bench/bench_page.py). Only what reads the server's state at the switch (the
model pickers' local folders) goes through the server (`live=True`). The page is Chinese unless the user switches,
whatever the browser's locale (gr.I18n would follow the browser).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import traceback
from dataclasses import dataclass
from typing import Callable

import gradio as gr
from gradio.blocks import postprocess_update_dict

from studio import api
from studio.api import StudioError
from studio.api.web import LANGS, pick, settings
from studio.api.web import scrub as no_paths  # no message shows a server path (issue 35)
from studio.api.web import t as studio_t
from studio.core.knobs import Knob
from studio.core.registry import cards

from . import refusals
from .strings import STRINGS


log = logging.getLogger("studio.ui")

# The queue slot shared by every event that runs a model: one model job at a time on the device,
# while light events (status, PNG info, prompt building) never wait behind it.
GPU = "gpu"


def s(key: str, lang: str, **params) -> str:
    """The page label `key` in `lang`."""
    return pick(STRINGS, key, lang, **params)


def plot_in(lang: str, value, column: str, names: Callable[[str], list[str]]):
    """A drawn plot's data with its legend values (`column`, the texts names(lg) in either language) in `lang`, for
    UI.on_switch: Vega draws them as the legend's text. The plot's own gr.skip() when nothing is drawn yet."""
    import pandas as pd
    if value is None:
        return gr.skip()
    columns, rows = (value.get("columns"), value.get("data")) if isinstance(value, dict) else \
        (getattr(value, "columns", None), getattr(value, "data", None))
    if not columns or column not in columns:
        return gr.skip()
    frame = pd.DataFrame(rows or [], columns=columns)
    wanted = names(lang)
    frame[column] = frame[column].replace({old: new for lg in ("zh", "en") for old, new in zip(names(lg), wanted)})
    return frame


def upload_limit() -> dict:
    """The upload size limit for labels: Gradio refuses a bigger file in the browser with its own English message."""
    return {"mb": settings().max_upload_mb}


@dataclass(frozen=True)
class Page:
    """What every tab's `build(ui, page)` is handed besides the UI helper: the session's language, the Blocks
    (for load and timer events) and this browser's id (for 我的作品)."""
    lang: gr.State
    demo: gr.Blocks
    browser_id: gr.BrowserState


class UI:
    def __init__(self, lang: str):
        self.lang = lang
        self._items: list[tuple[gr.components.Component, Callable[[str], dict]]] = []  # re-labelled in the browser
        self._live: list[tuple[gr.components.Component, Callable[[str], dict]]] = []  # by the server, at the switch
        self.switch_events: list[tuple[Callable, list, list]] = []  # fn(new_lang, *inputs) -> outputs, on a switch
        self.saved_events: list = []  # runs that save files (tabs.mywork lists them per browser)
        self.history_gallery = None  # the 文生图 tab's own gallery of this browser's pictures
        self.status_timer = None  # 模型管理's refresh of its tables (tabs.models.refresh_while_open)
        self.status_refresh: dict = {}  # ... and the event it runs
        self.knobs: list[tuple[gr.Slider, Knob]] = []  # the sliders made by knob(), with their table entries

    def on_saved(self, event):
        """Register a run whose handler stashes the files it saved (tabs.mywork.stash)."""
        self.saved_events.append(event)
        return event

    def on_switch(self, fn: Callable, inputs: list, outputs: list) -> None:
        """Run fn(new_lang, *inputs) when the language changes (for values, which relabel cannot see)."""
        self.switch_events.append((fn, inputs, outputs))

    def on_lang(self, component, update: Callable[[str], dict], live: bool = False):
        """Register how `component` changes when the language changes (merged with earlier registrations). `live`:
        update(lang) reads what may change while the server runs (a folder's models), so it runs at the switch."""
        items = self._live if live else self._items
        for i, (known, earlier) in enumerate(items):
            if known is component:
                items[i] = (component, lambda lang, a=earlier, b=update: {**a(lang), **b(lang)})
                return component
        items.append((component, update))
        return component

    def add(self, cls, key: str, fill: dict | None = None, **kwargs):
        """cls(label=..., info=..., placeholder=...) from STRINGS[key], [key + '.info'] and [key + '.placeholder']
        (when present), their {fields} filled from `fill`. gr.Slider / gr.Number / gr.ImageEditor become
        tabs.refusals' variants, whose value Gradio would refuse reaches the guarded handler, which names the
        parameter in the session's language."""
        cls = refusals.strict(cls)

        def texts(lang):
            out = {"label": s(key, lang, **(fill or {}))}
            for part in ("info", "placeholder"):  # the recommended range; an example of what to type
                if f"{key}.{part}" in STRINGS:
                    out[part] = s(f"{key}.{part}", lang, **(fill or {}))
            return out
        return self.on_lang(cls(**texts(self.lang), **kwargs), texts)

    def knob(self, key: str, knob: Knob, **kwargs):
        """A slider for `knob` (a modality's KNOBS entry): its minimum / maximum / step come from the table the
        API's validation reads, never from the tab (only a knob without a step takes the model's from `kwargs`).
        Recorded in `knobs` and as the slider's `studio_knob`, so tests/test_knobs.py compares them."""
        clash = set(knob.slider()) & set(kwargs)
        if clash:
            raise TypeError(f"{key}: {sorted(clash)} come from the knob table ({knob.name})")
        slider = self.add(gr.Slider, key, **knob.slider(), **kwargs)
        slider.studio_knob = knob
        self.knobs.append((slider, knob))
        return slider

    def button(self, key: str, **kwargs) -> gr.Button:
        return self.on_lang(gr.Button(s(key, self.lang), **kwargs), lambda lang: {"value": s(key, lang)})

    def md(self, key: str, **kwargs) -> gr.Markdown:
        return self.on_lang(gr.Markdown(s(key, self.lang), **kwargs), lambda lang: {"value": s(key, lang)})

    def tab(self, key: str, **kwargs) -> gr.Tab:
        return self.on_lang(gr.Tab(s(key, self.lang), **kwargs), lambda lang: {"label": s(key, lang)})

    def model_picker(self, key: str, task: str, value: str) -> gr.Dropdown:
        """The model dropdown of a tab: the registry's models of `task`, then loadable folders in the model dirs."""
        picker = self.add(gr.Dropdown, key, choices=model_choices(task, self.lang), value=value,
                          allow_custom_value=True)
        return self.on_lang(picker, lambda lang: {"choices": model_choices(task, lang)}, live=True)

    @property
    def components(self) -> list:
        """What the page re-labels in the browser (relabel_js)."""
        return [c for c, _ in self._items]

    @property
    def live_components(self) -> list:
        """What the server re-labels at the switch (relabel_live)."""
        return [c for c, _ in self._live]

    def relabel(self, lang: str) -> list:
        return [gr.update(**update(lang)) for _, update in self._items]

    def relabel_live(self, lang: str) -> list:
        return [gr.update(**update(lang)) for _, update in self._live]

    def relabel_js(self) -> str:
        """The switch's browser-side handler: (lang) => one update per `components`, as the server would send it."""
        table = {lang: [_as_sent(c, update(lang)) for c, update in self._items] for lang in LANGS}
        return f"(lang) => ({json.dumps(table, ensure_ascii=False)})[lang] ?? []"


def _as_sent(component, update: dict) -> dict:
    """`update` as Gradio's server turns a returned gr.update into what the page receives (Blocks.postprocess_data):
    the component rebuilt with it, its props read back, its value postprocessed."""
    kwargs = {**component.constructor_args, **update, "render": False}
    kwargs.pop("value", None)
    return postprocess_update_dict(type(component)(**kwargs), dict(update))


def model_choices(task: str, lang: str) -> list[tuple[str, str]]:
    return [(f"{c.title[lang]} · {c.key}", c.key) for c in cards(task)] + \
           [(f"{name} · {s('image.local', lang)}", name) for name in api.local_models(task)]


def guarded(fn):
    """Show errors as a message in the session's language, never as a traceback.

    The wrapped handler takes the session language as its `lang` argument (a gr.State, which
    gradio_client users do not see). functools.wraps keeps the signature, so the API parameter
    names stay those of the handler.
    """
    # One wrapper of the handler's own kind: Gradio streams generators and awaits coroutines (a cancel reaches an
    # async handler at once), so the kind must survive the wrapping.
    if inspect.isgeneratorfunction(fn):  # streaming handlers: errors surface while iterating
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _handling(fn, args, kwargs) as (args, kwargs):
                yield from fn(*args, **kwargs)
    elif inspect.isasyncgenfunction(fn):  # streaming over tabs.runner.stream
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            with _handling(fn, args, kwargs) as (args, kwargs):
                async for update in fn(*args, **kwargs):
                    yield update
    elif inspect.iscoroutinefunction(fn):  # handlers that await tabs.runner.run
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            with _handling(fn, args, kwargs) as (args, kwargs):
                return await fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _handling(fn, args, kwargs) as (args, kwargs):
                return fn(*args, **kwargs)
    wrapper.studio_guarded = True
    return wrapper


@contextlib.contextmanager
def _handling(fn, args, kwargs):
    """Errors as messages in the session's language; values Gradio refused resolved to the studio's messages."""
    lang = kwargs.get("lang") or _find_lang(args)
    with _as_message(fn, lang):
        yield refusals.resolve(fn, args, kwargs, lang)


@contextlib.contextmanager
def _as_message(fn, lang: str):
    try:
        yield
    except StudioError as exc:  # the pop-up renders HTML: what a user typed (a model name...) must read as text
        raise gr.Error(refusals.as_html_text(no_paths(exc.message(lang))), title=s("error.title", lang),
                       print_exception=False) from exc
    except gr.Error:
        raise
    except Exception as exc:  # the app keeps serving; the log keeps the traceback for the operator
        log.error("unexpected error in %s:\n%s", fn.__name__, traceback.format_exc())
        reason = no_paths(f"{type(exc).__name__}: {exc}")
        raise gr.Error(refusals.as_html_text(studio_t("internal", lang, reason=reason)),
                       title=s("error.title", lang)) from exc


def _find_lang(args) -> str:
    for value in reversed(args):
        if value in ("zh", "en"):
            return value
    return "zh"


def progress_callback(progress: gr.Progress):
    """studio's progress(fraction, text) -> Gradio's progress bar."""
    return lambda fraction, text: progress(fraction, desc=text)


def notices_md(notices: list[str]) -> str:
    """Notices as a Markdown list; each reads as its text (they quote prompts, model and LoRA names)."""
    return "\n".join(f"- {refusals.as_markdown_text(n)}" for n in notices)


NOTICES = "studio-notices"  # elem_classes of each tab's notices line, beside its result


def fresh_notices_on_click(demo: gr.Blocks) -> None:
    """Call inside `with demo:` after the tabs: a click that writes a notices line first empties it in the browser,
    so an error's pop-up never stands beside the last run's notices as if they were its own."""
    before = set(demo.fns)
    for dep in list(demo.fns.values()):
        lines = [o for o in dep.outputs if NOTICES in (getattr(o, "elem_classes", None) or [])]
        clicks = [demo.blocks[block].click for block, event in dep.targets if event == "click" and block is not None]
        if dep.fn is not None and lines and clicks:
            gr.on(clicks, None, None, lines, js=f"() => {[''] * len(lines)!r}" if len(lines) > 1 else "() => ''",
                  queue=False, api_visibility="private", show_progress="hidden")
    # The page runs a click's events in the order they were registered, each after the last: the clearing goes
    # first, or it would wipe the run's own notices (ids, and so API fn_index values, stay as they are).
    added = [i for i in demo.fns if i not in before]
    demo.default_config.fns = {i: demo.fns[i] for i in [*added, *(i for i in demo.fns if i in before)]}
