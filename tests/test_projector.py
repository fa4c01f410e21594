"""What a teacher projects: the live demos show the right thing at a glance (issue 36), read back from what the
page itself shows in headless Chromium, one app and one browser for the module."""
from __future__ import annotations

import pytest

from studio import api
from tabs.text_next import _shown
from tests.test_browser import _open, page  # noqa: F401 - the module's one app and browser


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


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


def _points(page) -> dict[str, list[tuple[int, float]]]:
    """A line chart's own data: series -> [(x, y)], from Vega's point marks ("步数: 3; 损失: 0.36; series: …")."""
    series: dict[str, list[tuple[int, float]]] = {}
    labels = page.evaluate("() => [...document.querySelectorAll('[role=tabpanel] .vega-embed "
                           "[aria-roledescription=point]')].map(e => e.getAttribute('aria-label'))")
    for label in labels:
        x, y, name = (part.split(": ", 1)[1] for part in label.split("; "))
        series.setdefault(name, []).append((int(x), float(y)))
    return {name: sorted(points) for name, points in series.items()}


def test_the_loss_curve_is_drawn_smoothed_over_the_raw_losses(page):  # noqa: F811
    from studio.lora.train import smoothed
    panel = _open(page, "模型微调 (LoRA)")
    panel.get_by_role("button", name="载入离线示例：水墨风格数据集（mini-shapes，CPU 上几分钟训完）").click()
    page.wait_for_function("() => document.querySelectorAll('[role=tabpanel] img').length >= 12")
    _set(page, "训练步数", 12)
    panel.get_by_role("button", name="开始训练").click()
    panel.get_by_text("已保存 LoRA").wait_for()
    page.wait_for_function("() => document.querySelectorAll('[role=tabpanel] .vega-embed [aria-roledescription=point]')"
                           ".length >= 24")
    curves = _points(page)
    raw, smooth = curves["每步损失"], curves["平滑后（指数滑动平均）"]
    assert [x for x, _ in raw] == [x for x, _ in smooth] == list(range(1, 13))
    assert [y for _, y in smooth] == pytest.approx(smoothed([y for _, y in raw]), rel=1e-6)

    def wiggle(ys):
        return sum(abs(b - a) for a, b in zip(ys, ys[1:]))
    assert wiggle([y for _, y in smooth]) < 0.5 * wiggle([y for _, y in raw])


def test_smoothing_keeps_a_flat_loss_flat_and_follows_a_falling_one():
    from studio.lora.train import smoothed
    assert smoothed([0.3] * 5) == pytest.approx([0.3] * 5)  # debiased: the first steps are not pulled to 0
    falling = smoothed([1.0 - i / 100 for i in range(100)])
    assert falling[-1] < falling[10] < falling[0]


def test_picking_a_model_not_downloaded_says_so_once(page):  # noqa: F811
    panel = _open(page, "文本生成")
    model = panel.get_by_label("模型", exact=True).first
    model.click()
    page.locator("[role=option]").filter(has_text="qwen2.5-0.5b").first.click()
    panel.get_by_text("还没有下载").first.wait_for()
    for value in (0.3, 0.9):  # live redraws of a model that is not there: no message per move
        _set(page, "温度 (Temperature)", value)
    page.wait_for_timeout(2000)
    toasts = page.locator("[data-testid=toast-body]").all_inner_texts()
    notices = panel.get_by_text("还没有下载").all_inner_texts()
    assert toasts == [] and len(notices) == 1 and "Qwen2.5-0.5B" in notices[0], (toasts, notices)
    model.click()
    page.locator("[role=option]").filter(has_text="mini-poem").first.click()
    panel.get_by_text("还没有下载").wait_for(state="detached")
    _set(page, "温度 (Temperature)", 0.7)


def test_an_error_never_stands_beside_the_last_runs_notices(page):  # noqa: F811
    panel = _open(page, "文本生成")
    panel.get_by_role("button", name="生成", exact=True).click()  # seed -1: a notice names the seed it drew
    notices = panel.locator(".studio-notices").first
    notices.get_by_text("随机选用种子").wait_for()
    model = panel.get_by_label("模型", exact=True).first
    model.fill("no-such-model")
    model.press("Enter")
    panel.get_by_role("button", name="生成", exact=True).click()
    page.locator("[data-testid=toast-body]").filter(has_text="no-such-model").first.wait_for()
    assert "随机选用种子" not in notices.inner_text()
    model.fill("mini-poem")
    model.press("Enter")
