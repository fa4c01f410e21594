"""The course's prompt patterns for text (module 5) as data: assets/prompts/text.json.

A template has named fields; `fill` puts the learner's values into its text, so the page can show the
whole prompt before it is sent.

The public calls: text_templates, text_template, fill_template.
"""
from __future__ import annotations

import functools
import json

from studio.core.calls import caller_lang
from studio.core.errors import StudioError
from studio.core.registry import ASSETS


FILE = ASSETS / "prompts" / "text.json"
MAX_FIELDS = 4  # the page has this many field boxes
FIELD_CAP = 20_000  # characters per field


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, dict]:
    data = json.loads(FILE.read_text(encoding="utf-8"))
    return {t["id"]: t for t in data["templates"]}


def ids() -> list[str]:
    return list(_templates())


def get(template_id: str) -> dict:
    table = _templates()
    if not isinstance(template_id, str) or template_id not in table:
        raise StudioError("bad_template", name=str(template_id)[:60], choices=", ".join(table))
    return table[template_id]


def describe(template_id: str, lang: str) -> dict:
    """The template in one language: id, title, note, fields [{name, label, default, lines}], text, settings."""
    t = get(template_id)
    fields = [{"name": f["name"], "label": f["label"][lang], "default": f["default"][lang], "lines": f.get("lines", 1)}
              for f in t["fields"]]
    return {"id": t["id"], "title": t["title"][lang], "note": t["note"][lang], "fields": fields,
            "text": t["text"][lang], "settings": dict(t.get("settings", {}))}


def fill(template_id: str, values: dict[str, str], lang: str) -> str:
    """The template's text with the fields filled in; an empty field is refused, naming it."""
    d = describe(template_id, lang)
    from studio.core.validate import mapping
    values = mapping("values", values)
    filled = {}
    for f in d["fields"]:
        value = values.get(f["name"])
        value = "" if value is None else str(value)
        if not value.strip():
            raise StudioError("template_field_missing", field=f["label"])
        if len(value) > FIELD_CAP:
            raise StudioError("prompt_too_long", length=len(value), cap=FIELD_CAP)
        filled[f["name"]] = value.strip()
    # replace, not str.format: a learner's braces stay as typed
    text = d["text"]
    for name, value in filled.items():
        text = text.replace("{" + name + "}", value)
    return text


# ---- The course's prompt patterns for text (module 5): list, describe, fill. ----
def text_templates(lang: str | None = None) -> list[dict]:
    """[{"id", "title"}] of the prompt patterns (zero-/few-shot CoT, 费曼技巧, 风格迁移, 故事引擎, ...)."""
    lang = caller_lang(lang)
    return [{"id": i, "title": describe(i, lang)["title"]} for i in ids()]


def text_template(template_id: str, lang: str | None = None) -> dict:
    """One pattern: title, note, fields [{name, label, default, lines}], its text with {field} slots, and the
    course's suggested sampling settings for it."""
    return describe(template_id, caller_lang(lang))


def fill_template(template_id: str, values: dict[str, str], lang: str | None = None) -> str:
    """The prompt the pattern makes with these field values (shown before it is sent)."""
    return fill(template_id, values, caller_lang(lang))
