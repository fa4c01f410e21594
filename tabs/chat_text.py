"""What 文本生成's Chatbot shows: every turn as its text. gr.Chatbot renders Markdown and lets HTML through (sanitised,
but a typed <img> still shows a picture), so the page holds a display copy with `&` and `<` escaped outside code;
Markdown (lists, bold, code blocks) still renders, and the model is handed back exactly what was typed."""
from __future__ import annotations

import re


# Code blocks and spans: Markdown shows their text literally already, so escaping there would show "&lt;".
_CODE = re.compile(r"(```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]*`)", re.S)


def _each_outside_code(text: str, change) -> str:
    parts = _CODE.split(text)
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))


def shown(text: str) -> str:
    """A turn as the Chatbot should display it (as text, never as HTML)."""
    return _each_outside_code(text, lambda s: s.replace("&", "&amp;").replace("<", "&lt;"))


def typed(text: str) -> str:
    """The turn's own text back from its display copy (shown's inverse)."""
    return _each_outside_code(text, lambda s: s.replace("&lt;", "<").replace("&amp;", "&"))
