"""Issue 36.4: every text the studio itself shows follows the page's language, and changes with the switch.

The page is built once (app.build_demo) and its language switch is run as the browser runs it: every event of the
switch's .change through Gradio's process_api, with the values a fresh page holds, then what each output shows is
read back. No browser: the axis titles, legend values, table headers and status lines are the values Vega and the
page draw."""
from __future__ import annotations

import asyncio
import json
import re

import gradio as gr
import pytest
from gradio.components.native_plot import NativePlot
from gradio.state_holder import SessionState

import app
from studio.image import grid
from tabs import finetune, server, text_next


CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from studio.core import config
    from studio.core.manager import ModelManager, reset_manager
    root = tmp_path_factory.mktemp("page")
    config.configure([], env={"STUDIO_MODEL_DIRS": str(root / "models"), "STUDIO_OUTPUT_DIR": str(root / "out"),
                              "STUDIO_HUB": "local", "STUDIO_LANG": "zh"})
    reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}))
    yield app.build_demo()
    config.configure([], env={})


@pytest.fixture(scope="module")
def english(page) -> dict:
    """What the switch to English sends (the page fresh, as loaded in Chinese)."""
    return switch(page, "en")


def blocks(demo, kind) -> list:
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def one(demo, kind, test):
    found = [b for b in blocks(demo, kind) if test(b)]
    assert len(found) == 1, found
    return found[0]


def relabelled_in_the_browser(js: str, lang: str) -> list | None:
    """What the switch's browser-side relabel (tabs.ui.UI.relabel_js) returns for `lang`: its table of updates, read
    from the handler's own text; None for any other script (those send nothing: Gradio's locale, the classroom)."""
    found = re.fullmatch(r"\(lang\) => \((\{.*\})\)\[lang\] \?\? \[\]", js, re.S)
    return json.loads(found.group(1))[lang] if found else None


def switch(demo, lang: str, values: dict | None = None) -> dict:
    """Run the language switch to `lang` as the page does: {component id: [what each switch event sent it]}."""
    radio = one(demo, gr.Radio, lambda b: b.label == "语言 / Language")
    sent: dict = {}
    for dep in demo.fns.values():
        if (radio._id, "change") not in [tuple(t) for t in dep.targets]:
            continue
        if dep.fn is None:
            for comp, data in zip(dep.outputs, relabelled_in_the_browser(dep.js, lang) or []):
                sent.setdefault(comp._id, []).append(data)
            continue
        payload = [lang if c is radio else (values or {}).get(c._id, getattr(c, "value", None)) for c in dep.inputs]
        result = asyncio.run(demo.process_api(block_fn=dep, inputs=payload, state=SessionState(demo)))
        for comp, data in zip(dep.outputs, result["data"]):
            sent.setdefault(comp._id, []).append(data)
    return sent


def shown(sent: dict, comp, prop: str = "value"):
    """The last value of `prop` the switch sent to `comp` (updates and plain values alike)."""
    for data in reversed(sent.get(comp._id, [])):
        if isinstance(data, dict) and data.get("__type__") == "update":
            if prop in data:
                return data[prop]
        elif prop == "value":
            return data
    return None


def text_of(value) -> str:
    return str(value.get("headers", "")) + str(value.get("data", "")) if isinstance(value, dict) else str(value)


# ---- 1. the parameter grid's labels ----

def test_grid_labels_follow_the_request_language():
    assert [grid.label(a, v, "zh") for a, v in (("steps", 10), ("seed", 11), ("lora", "none"))] == \
        ["步数 10", "种子 11", "不用 LoRA"]
    assert [grid.label(a, v, "en") for a, v in (("steps", 10), ("seed", 11), ("lora", "none"))] == \
        ["Steps 10", "Seed 11", "LoRA none"]
    assert grid.label("sampler", "Euler a") == "Euler a" and grid.label("none", None, "en") == ""


# ---- 2. chart axes and legends ----

def test_every_chart_titles_its_axes_in_the_page_language_and_switches(page, english):
    plots = blocks(page, NativePlot)
    assert len(plots) >= 4
    for plot in plots:
        assert plot.x_title and CJK.search(plot.x_title) and plot.y_title and CJK.search(plot.y_title), \
            (plot.x, plot.y, plot.x_title, plot.y_title)
    sent = english
    for plot in plots:
        assert shown(sent, plot, "x_title") and not CJK.search(shown(sent, plot, "x_title")), plot.x
        assert shown(sent, plot, "y_title") and not CJK.search(shown(sent, plot, "y_title")), plot.y


def test_drawn_legends_switch_language(page):
    loss = one(page, gr.LinePlot, lambda b: b.color == "series")
    bars = one(page, gr.BarPlot, lambda b: b.color == "status")
    table = one(page, gr.Dataframe, lambda b: b.label == "数值")
    rows = [dict(rank=i, token=w, token_id=i, p_raw=p, p_temperature=p, cumulative=p, p_final=p, kept=i == 1)
            for i, (w, p) in enumerate((("月", 0.6), ("光", 0.4)), 1)]
    chart, numbers, _ids = text_next._views(rows, "zh")
    sent = switch(page, "en", {loss._id: loss.postprocess(finetune.loss_curve([1.0, 0.5, 0.25], "zh")).model_dump(),
                               bars._id: bars.postprocess(chart).model_dump(),
                               table._id: table.postprocess(numbers).model_dump()})
    for plot, column, words in ((loss, "series", finetune.s("finetune.loss_series", "en").split("|")),
                                (bars, "status", ["kept", "cut"])):
        legend = shown(sent, plot)
        assert legend is not None, f"the drawn {plot.y} plot keeps its Chinese legend after the switch"
        assert {row[legend["columns"].index(column)] for row in legend["data"]} == set(words)
    numbers = shown(sent, table)
    assert numbers["headers"][0] == "token" and [row[4] for row in numbers["data"]] == ["kept", "cut"], numbers


# ---- 3. 模型管理 and the 文本生成 gauge ----

def test_model_table_names_tasks_and_the_status_line_switches(page, english):
    registry = one(page, gr.Dataframe, lambda b: b.value["headers"][:2] == ["键", "任务"])
    tasks = {row[1] for row in registry.value["data"]}
    assert tasks and not tasks & {"image", "text", "video", "speech", "safety", "embedding"}, tasks
    budget = one(page, gr.Markdown, lambda b: str(b.value).startswith("**设备**"))
    sent = english
    assert str(shown(sent, budget)).startswith("**Device**")
    english = shown(sent, registry)
    assert english is not None and "image" in {row[1] for row in english["data"]}


def test_text_gauge_switches(page, english):
    gauge = one(page, gr.HTML, lambda b: "个词元（提示词）" in str(b.value))
    assert "tokens (prompt)" in str(shown(english, gauge))


# ---- 4. texts that stayed Chinese on the English page ----

def test_prompt_token_line_switches(page, english):
    tokens = one(page, gr.Markdown, lambda b: str(b.value).startswith("提示词长度"))
    assert str(shown(english, tokens)).startswith("Prompt"), shown(english, tokens)


def test_lora_table_headers_switch(page, english):
    calc = one(page, gr.Dataframe, lambda b: b.value["headers"][0] == "形状 d x k")
    assert "shape d x k" in text_of(shown(english, calc)), shown(english, calc)


def test_operator_view_label_switches(page, english):
    operator = one(page, gr.Accordion, lambda b: b.label == "运营者视图：队列与正在运行的任务")
    assert shown(english, operator, "label") == "Operator view: the queue and running jobs"


# ---- 5. Gradio's own key shown raw ----

def test_gradio_complete_has_a_chinese_text():
    translations = server.launch_kwargs()["i18n"].translations_dict
    assert translations["zh-CN"]["common.complete"] == "完成"
    assert translations["en"]["common.complete"] == "Complete"
