"""The course's prompt patterns for text (module 5): list, describe, fill."""
from __future__ import annotations

from .. import templates as _templates
from .common import _lang


def text_templates(lang: str | None = None) -> list[dict]:
    """[{"id", "title"}] of the prompt patterns (zero-/few-shot CoT, 费曼技巧, 风格迁移, 故事引擎, ...)."""
    lang = _lang(lang)
    return [{"id": i, "title": _templates.describe(i, lang)["title"]} for i in _templates.ids()]


def text_template(template_id: str, lang: str | None = None) -> dict:
    """One pattern: title, note, fields [{name, label, default, lines}], its text with {field} slots, and the
    course's suggested sampling settings for it."""
    return _templates.describe(template_id, _lang(lang))


def fill_template(template_id: str, values: dict[str, str], lang: str | None = None) -> str:
    """The prompt the pattern makes with these field values (shown before it is sent)."""
    return _templates.fill(template_id, values, _lang(lang))
