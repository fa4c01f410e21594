"""Gradio's own refusals turned into the studio's messages, and what a user typed shown as text.

Gradio checks some values before a handler runs, and its answers name no parameter, are English only, or say
nothing at all: a slider's bounds ("Value 500 is greater than maximum value 150."), NaN, infinities and text
sent to a number through the HTTP API (a bare "error"), an upload PIL cannot decode in the image editor, and a
join past the queue's max_size ("Queue is full", which the browser replaces with its own English line).

- `Slider`, `Number` and `ImageEditor` are Gradio's components whose preprocess hands what it cannot accept on
  as a `Refused` value instead of raising; `ui.guarded` resolves it with the handler's parameter name and the
  session's language (`resolve`), so the message names the parameter and its range, like studio.core.validate does.
  `ui.UI.add` creates these in place of gr.Slider / gr.Number / gr.ImageEditor; the page looks the same.
- `QueueFull` is an ASGI middleware: a queue join refused as full gets the studio's message, in the session's
  language when the session is known and in both languages otherwise (a raw HTTP join).
- `as_html_text` / `as_markdown_text`: gr.Error, gr.Info and gr.Markdown render HTML (and Markdown), so studio
  messages, which hold what a user typed (model names, prompts, LoRA and file names), are escaped to read as text.
"""
from __future__ import annotations

import html
import inspect
import json
import math
import re

import gradio as gr
from gradio.data_classes import FileData
from PIL import Image

from studio.api import StudioError
from studio.api.web import LANGS, check_pixels, number, pick, settings, t

from .strings import STRINGS, label_key


# ---- what a user typed, shown as text ----

def as_html_text(message: str) -> str:
    """A message for gr.Error / gr.Warning / gr.Info (their pop-up renders HTML): <, > and & read as themselves."""
    return html.escape(str(message), quote=False)


# Markdown and HTML syntax: emphasis, links and images, code, tables, strike-through, headings, entities, tags.
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>!|~#&{}])")
# GFM turns bare addresses into links: break the scheme, the www. and the e-mail @ with a backslash escape.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)|(@)")


def as_markdown_text(message: str) -> str:
    """A message for gr.Markdown that renders as exactly its text (one line: a list item stays one item)."""
    text = " ".join(str(message).splitlines())
    text = _MARKDOWN.sub(r"\\\1", text)
    return _AUTOLINK.sub(lambda m: "\\" + m.group(0), text)


# ---- values Gradio's preprocess would refuse ----

class Refused:
    """A value a component could not accept; the guarded handler turns it into a StudioError naming the
    parameter (`resolve`). `error` is set for uploads (the message does not depend on the parameter)."""

    def __init__(self, value=None, low=None, high=None, precision=None, error: StudioError | None = None,
                 label: str | None = None):
        self.value, self.low, self.high, self.precision, self.error = value, low, high, precision, error
        self.label = label

    def resolve(self, name: str, lang: str | None = None):
        """The number the value stands for when the studio accepts it (numeric text, in range), else StudioError
        naming the control as the page labels it in `lang` (the parameter's name when it has no label)."""
        if self.error is not None:
            raise self.error
        key = label_key(self.label) if lang else None  # the component's label: in the language it was built in
        if key:  # the page's label for the learner, the parameter for an API caller
            label = pick(STRINGS, key, lang)
            name = name if label.strip().lower() == name.lower() else f"{label} · {name}"
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        try:
            checked = number(name, self.value, low, high, float)
        except StudioError as err:
            err.params.update(value=_short(self.value), low=_bound(low), high=_bound(high))
            raise StudioError(err.key, **err.params) from None
        return gr.Number.round_to_precision(checked, self.precision)

    def __repr__(self) -> str:
        return f"Refused({self.value!r})"

    # A handler that is not ui.guarded (private page events) meets the value as a number: numeric text in range
    # works, anything else is a gr.Error naming the box by its label, in the server's default language.
    def _number(self):
        try:
            return self.resolve(self.label or "value")
        except StudioError as err:
            raise gr.Error(as_html_text(err.message(settings().lang)), print_exception=False) from None

    def __bool__(self):
        return bool(self._number())

    def __float__(self):
        return float(self._number())

    def __int__(self):
        return int(self._number())

    def __index__(self):
        return int(self._number())

    def __round__(self, digits=None):
        return round(self._number(), digits)

    def __format__(self, spec):
        return format(self._number(), spec)

    def __lt__(self, other):
        return self._number() < other

    def __le__(self, other):
        return self._number() <= other

    def __gt__(self, other):
        return self._number() > other

    def __ge__(self, other):
        return self._number() >= other

    def __neg__(self):
        return -self._number()

    def __add__(self, other):
        return self._number() + other

    __radd__ = __add__

    def __sub__(self, other):
        return self._number() - other

    def __rsub__(self, other):
        return other - self._number()

    def __mul__(self, other):
        return self._number() * other

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._number() / other

    def __rtruediv__(self, other):
        return other / self._number()


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:60] + "…"


def _bound(value) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return str(int(value)) if float(value).is_integer() else str(value)


def _finite(payload) -> bool:
    return isinstance(payload, (int, float)) and not isinstance(payload, bool) and math.isfinite(payload)


def _inside(payload, low, high) -> bool:
    return (low is None or payload >= low) and (high is None or payload <= high)


class Slider(gr.Slider):
    """gr.Slider whose out-of-range, non-numeric or non-finite value reaches the handler as `Refused`."""
    is_template = True  # the page draws it as Gradio's slider

    def preprocess(self, payload):
        if _finite(payload) and _inside(payload, self.minimum, self.maximum):
            return super().preprocess(payload)
        return Refused(payload, self.minimum, self.maximum, self.precision, label=self.label)


class Number(gr.Number):
    """gr.Number whose out-of-range, non-numeric or non-finite value reaches the handler as `Refused`
    (None stays None: an empty box)."""
    is_template = True

    def preprocess(self, payload):
        if payload is None or (_finite(payload) and _inside(payload, self.minimum, self.maximum)):
            return super().preprocess(payload)
        return Refused(payload, self.minimum, self.maximum, self.precision, label=self.label)


def upload_refusal(exc: BaseException) -> StudioError:
    """The studio's message for an upload PIL could not open or decode."""
    if isinstance(exc, StudioError):
        return exc
    if isinstance(exc, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return StudioError("upload_bomb", pixels=found.group(1) if found else "?", cap=settings().max_upload_pixels)
    return StudioError("not_an_image")


class ImageEditor(gr.ImageEditor):
    """gr.ImageEditor whose upload that is not a readable image (or is over the server's pixel limit, read from
    the header before anything is decoded) reaches the handler as `Refused`, and whose 16-bit or float image is
    brought to 8 bits first (PIL cannot convert those to RGBA)."""
    is_template = True

    def preprocess(self, payload):
        try:
            if payload is not None:
                for file in (payload.background, payload.composite, *(payload.layers or [])):
                    if isinstance(file, FileData):
                        _check_header(file.path)
            return super().preprocess(payload)
        except Exception as exc:  # noqa: BLE001 - whatever PIL raises for a bad file, the learner gets a message
            return Refused(error=upload_refusal(exc))

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        if isinstance(file, FileData):
            with Image.open(file.path) as probe:
                deep = probe.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
            if deep:
                from gradio import image_utils
                with Image.open(file.path) as image:
                    eight = _to_8bit(image)
                file = FileData(path=image_utils.save_image(eight, self.GRADIO_CACHE), orig_name=file.orig_name)
        return super().convert_and_format_image(file, flatten_on_white)


def _check_header(path: str) -> None:
    with Image.open(path) as image:  # reads the header only; PIL's own bomb guard may fire here
        check_pixels(image)


def _to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit / 32-bit grey image scaled into 0-255 (its own range), as 8-bit grey."""
    import numpy as np
    values = np.asarray(image, dtype=np.float64)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
    return Image.fromarray(np.nan_to_num(scaled).clip(0, 255).astype(np.uint8), "L")


STRICT = {gr.Slider: Slider, gr.Number: Number, gr.ImageEditor: ImageEditor}


def strict(cls):
    """The class `ui.UI.add` creates for `cls`: the studio's variant of Slider, Number and ImageEditor."""
    return STRICT.get(cls, cls)


def resolve(fn, args: tuple, kwargs: dict, lang: str | None = None) -> tuple[tuple, dict]:
    """args / kwargs of `fn` with every `Refused` value resolved (or StudioError naming the control's label in
    `lang`, else the parameter)."""
    if not any(isinstance(v, Refused) for v in (*args, *kwargs.values())):
        return args, kwargs
    bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    for name, value in bound.arguments.items():
        if isinstance(value, Refused):
            bound.arguments[name] = value.resolve(name, lang)
    return bound.args, bound.kwargs


# ---- the queue is full ----

QUEUE_PATHS = ("/queue/join", "/call/")


def queue_full_message(lang: str | None) -> str:
    """The studio's words for a full queue: in `lang`, or in both languages when the language is not known."""
    if lang in LANGS:
        return t("queue_full", lang)
    return " / ".join(t("queue_full", lg) for lg in LANGS)


class QueueFull:
    """ASGI middleware: Gradio answers a join past max_size with 503 "Queue is full. Max size is …", which the
    browser replaces with its own English "This application is currently busy". The studio's message goes in
    instead: as 429 (the browser shows the `detail` of any status but 503 and 422) with the session's language
    when the page is known, and in both languages for a raw HTTP join. gradio_client keeps its 503 (it raises its
    own QueueError on 503 and would hide the text of any other status), with the studio's text as the detail."""

    def __init__(self, app, lang_of=None):
        self.app = app
        self.lang_of = lang_of or session_lang

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or \
                not any(p in scope.get("path", "") for p in QUEUE_PATHS):
            return await self.app(scope, receive, send)
        body = bytearray()
        more = True
        while more:  # the join's JSON body: read here to know the session, then handed on unchanged
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        state = {"full": False, "headers": None}

        async def watch(message):
            if message["type"] == "http.response.start" and message["status"] == 503:
                state["headers"], state["status"] = message, 503
                return  # held until the body says whether the queue was full
            if message["type"] == "http.response.body" and state["headers"] is not None:
                chunk = message.get("body", b"")
                if b"Queue is full" in chunk:
                    return await self._refuse(scope, bytes(body), send)
                await send(state["headers"])
                state["headers"] = None
            await send(message)

        await self.app(scope, replay, watch)

    async def _refuse(self, scope, body: bytes, send):
        try:
            session = json.loads(body or b"{}").get("session_hash")
        except (ValueError, AttributeError):
            session = None
        app = scope.get("app")
        lang = self.lang_of(app, session) if session else None
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        client = b"gradio_client" in headers.get(b"user-agent", b"")
        status = 503 if client else 429
        content = json.dumps({"detail": queue_full_message(lang)}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                                (b"retry-after", b"10")]})
        await send({"type": "http.response.body", "body": content})


def session_lang(app, session_hash: str) -> str | None:
    """The language of a browser session Gradio knows: its language State when switched, else the page default.
    None for a session Gradio has never seen (a raw HTTP join)."""
    try:
        blocks = app.get_blocks()
        holder = blocks.state_holder
        if session_hash not in holder:
            return None
        state = holder[session_hash]
        for block_id in lang_state_ids(blocks):
            value = state.state_data.get(block_id)
            if value in LANGS:
                return value
        return settings().lang
    except Exception:  # noqa: BLE001 - never let the message itself fail the answer
        return None


def lang_state_ids(blocks) -> list[int]:
    """The gr.State holding the session language: app.build_demo creates it first, holding 'zh' or 'en'."""
    ids = [i for i, b in sorted(blocks.blocks.items()) if isinstance(b, gr.State) and b.value in LANGS]
    return ids[:1]
