"""The page's labels (tabs/strings.py) and the studio's messages (studio/core/i18n.py): every key is used, and its
Chinese and English texts fill in the same {fields}.

A key is used when the code names it as a literal (a `.info` / `.placeholder` key goes with its control's key), or
when it is one the code builds at run time, listed in the table's BUILT_KEYS beside the code that builds it."""
from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import app  # noqa: F401  (the tabs add their own labels to STRINGS when imported)
from studio.core import i18n
from tabs import strings


ROOT = Path(__file__).resolve().parent.parent
TABLES = {"tabs/strings.py": (strings.STRINGS, strings.BUILT_KEYS),
          "studio/core/i18n.py": (i18n.MESSAGES, i18n.BUILT_KEYS)}


def _code_files():
    yield ROOT / "app.py"
    for folder in ("studio", "tabs"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() not in TABLES:
                yield path


def _literals() -> tuple[set[str], set[str]]:
    """(every string constant of the code, the constant start of every f-string)."""
    constants, prefixes = set(), set()
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                constants.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                prefixes.add(node.values[0].value)
    return constants, prefixes


def _built(built: dict[str, tuple[str, ...]]) -> set[str]:
    return {template.format(value) for template, values in built.items() for value in values}


@pytest.mark.parametrize("source", TABLES)
def test_every_key_is_used(source):
    table, built = TABLES[source]
    constants, _ = _literals()
    named = constants | _built(built)
    unused = [key for key in table
              if key not in named and not any(key == base + suffix for suffix in (".info", ".placeholder")
                                              for base in named if key.startswith(base))]
    assert unused == [], f"keys of {source} that no code uses (remove them, or list a built key in BUILT_KEYS)"


@pytest.mark.parametrize("source", TABLES)
def test_built_keys_exist_and_are_still_built(source):
    table, built = TABLES[source]
    _, prefixes = _literals()
    assert sorted(_built(built) - set(table)) == []
    assert [t for t in built if t.split("{}")[0] not in prefixes] == [], "a template no f-string of the code builds"


@pytest.mark.parametrize("source", TABLES)
def test_both_languages_fill_in_the_same_fields(source):
    table, _ = TABLES[source]

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    assert {key for key, (zh, en) in table.items() if fields(zh) != fields(en)} == set()


def test_the_check_finds_an_unused_key(monkeypatch):
    """The check itself: a key nobody names is reported."""
    monkeypatch.setitem(strings.STRINGS, "nobody.names.this", ("无", "none"))
    with pytest.raises(AssertionError, match="nobody.names.this"):
        test_every_key_is_used("tabs/strings.py")
