"""What a teacher projects: the live demos show the right thing at a glance (issue 36), read back from what the
page itself shows in headless Chromium, one app and one browser for the module."""
from __future__ import annotations

import pytest

from studio import api
from tabs.text_next import _shown
from tests.test_browser import _open, page  # noqa: F401 - the module's one app and browser

PROMPT, MODEL = "床前明月光", "mini-poem"
BARS = "() => [...document.querySelectorAll('[role=tabpanel] .vega-embed [aria-roledescription=bar]')]" \
       ".map(e => e.getAttribute('aria-label'))"


def _bars(page) -> list[tuple[str, float, str]]:
    """The bar chart's own data: (token, p, status) per bar, from Vega's aria labels ("词: 01. ，; 温度后: 0.93; …")."""
    out = []
    for label in page.evaluate(BARS):
        token, p, status = (part.split(": ", 1)[1] for part in label.split("; "))
        out.append((token, float(p), status))
    return sorted(out)


def _set(page, label: str, value) -> None:
    box = page.get_by_label(f"number input for {label}").first
    box.fill(str(value))
    box.press("Enter")


def _expected(temperature, top_k, top_p) -> list[tuple[str, float, str]]:
    rows = api.token_distribution(PROMPT, MODEL, temperature, top_k, top_p, 15)
    return sorted((f"{r['rank']:02d}. {_shown(r['token'])}", r["p_temperature"], "保留" if r["kept"] else "截掉")
                  for r in rows)


def _wait_for_bars(page, expected, timeout=20_000):
    """Wait until the chart shows `expected`; on a timeout, fail showing what it shows instead."""
    want = [[t, p, s] for t, p, s in expected]
    try:
        page.wait_for_function(
            f"""want => {{ const got = ({BARS})().map(l => l.split('; ').map(f => f.split(': ').slice(1).join(': ')))
                .map(([t, p, s]) => [t, parseFloat(p), s]).sort();
                return got.length === want.length && got.every((g, i) => g[0] === want[i][0] && g[2] === want[i][2]
                    && Math.abs(g[1] - want[i][1]) <= 1e-6 * Math.max(1, want[i][1])); }}""", arg=want,
            timeout=timeout)
    except Exception:  # noqa: BLE001 - the assertion below says what differs
        pass
    got = _bars(page)
    assert [(t, s) for t, _, s in got] == [(t, s) for t, _, s in expected]
    assert [p for *_, p, _ in got] == pytest.approx([p for _, p, _ in expected], rel=1e-6, abs=1e-9)


def test_next_token_bars_follow_every_knob_change(page):  # noqa: F811
    _open(page, "文本生成")
    _set(page, "温度 (Temperature)", 0.2)
    _wait_for_bars(page, _expected(0.2, 0, 1.0))
    assert max(p for _, p, _ in _bars(page)) > 0.8  # a cold temperature: one token takes nearly all
    _set(page, "温度 (Temperature)", 1.5)
    _wait_for_bars(page, _expected(1.5, 0, 1.0))
    _set(page, "Top-k", 3)  # the grey "cut" colouring follows too
    _wait_for_bars(page, _expected(1.5, 3, 1.0))
    assert [s for *_, s in _bars(page)].count("保留") == 3
    for value in (0.3, 0.9, 1.2):  # a fast drag: the last value wins
        _set(page, "温度 (Temperature)", value)
    _wait_for_bars(page, _expected(1.2, 3, 1.0))
    _set(page, "Top-k", 0)
    _set(page, "温度 (Temperature)", 0.7)
