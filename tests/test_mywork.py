"""我的作品 says what each item is: the tab (and experiment) it came from, its prompt or text and its seed, in the
page's language; experiments' files (韵律对比, 固定音色, 多角色对话, X/Y 图 and LoRA 对比) are listed too; an entry from
before (path, caption and time only) still lists, by its file name."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import app
from tests.test_browser import _open, page  # noqa: F401  (the browser fixture: the app with the mini models)


PROMPT = "a big red circle on the left, blue background"
SENTENCE = "今天学习韵律对比"
ESPEAK = ("espeak", 1, 1, False, 0, 0, 0, 5, 0.3, 0.7, 20, "", "cmn", 175, 50, 100)  # model, seeds, controls


def _table(result):
    """The rows of the 我的作品 table in what remember / recall return (id, pictures, files, 文生图 gallery, table)."""
    assert len(result) == 5, "remember / recall return no table of what each item is"
    return result[4]


def _picture(request):
    from tabs import image as image_tab

    async def updates():
        return [u async for u in image_tab.generate_image(PROMPT, "", "mini-shapes", "Euler", 2, 7, 6, 32, 32, 1, 1,
                                                          request=request)]
    return asyncio.run(updates())[-1][0][0][0]


def test_my_work_names_the_tab_the_prompt_and_lists_experiments(studio_env):
    from studio.core import history
    from tabs import image_grid, mywork
    from tabs import speech as speech_tab
    browser, me = history.new_id(), SimpleNamespace(session_hash="mywork-1")
    picture = _picture(me)
    mywork.remember(browser, me, "zh")
    compared = asyncio.run(speech_tab.prosody(SENTENCE, *ESPEAK, lang="zh", request=me))
    mywork.remember(browser, me, "zh")
    grid, _ = asyncio.run(image_grid.xy_plot(PROMPT, "", "mini-shapes", "Euler", 2, 7, 3, 32, 32, "cfg_scale", "3, 7",
                                             "none", "", "zh", request=me))
    result = mywork.remember(browser, me, "zh")
    table = _table(result)
    assert list(table.columns) == ["时间", "来自", "内容", "文件"]
    rows = table.to_dict("records")
    assert len(rows) == 5  # the picture, three prosody takes, the grid; newest first
    assert rows[0]["来自"] == "文生图 · X/Y 图" and PROMPT in rows[0]["内容"] and rows[0]["文件"] == Path(grid).name
    prosody = rows[1:4]
    assert all(r["来自"] == "语音合成 · 韵律对比" and SENTENCE in r["内容"] for r in prosody)
    assert {r["文件"] for r in prosody} == {Path(a).name for a in compared[:3]}
    assert rows[4]["来自"] == "文生图" and PROMPT in rows[4]["内容"] and "seed 6" in rows[4]["内容"]
    assert rows[4]["文件"] == Path(picture).name
    # the pictures (the grid too) with captions naming the tab and the prompt; every file in the download list
    pictures, files = result[1], result[2]
    assert [p for p, _ in pictures] == [grid, picture]
    assert pictures[1][1].startswith("文生图") and PROMPT[:20] in pictures[1][1] and "seed 6" in pictures[1][1]
    assert len(files) == 5 and files[0] == grid
    # the page in English: headers, tab names and captions follow
    english = mywork.recall(browser, "en")
    assert list(_table(english).columns) == ["Time", "From", "Content", "File"]
    assert _table(english).iloc[1]["From"] == "Speech · Prosody comparison"
    assert english[1][1][1].startswith("Text to image")


def test_the_other_experiments_and_a_lora_grid_are_listed(studio_env, models_dir):
    from studio.core import history
    from tabs import image_grid, mywork
    from tabs import speech as speech_tab
    from tests import tiny_models
    browser, me = history.new_id(), SimpleNamespace(session_hash="mywork-2")
    asyncio.run(speech_tab.fixed("第一句", "第二句", *ESPEAK[:2], *ESPEAK[3:], lang="zh", request=me))
    asyncio.run(speech_tab.dialogue("A: 你好\nB: 你好呀", "espeak", 1, 2, *ESPEAK[3:], lang="zh", request=me))
    tiny_models.build_lora(models_dir / "tiny-sd15", models_dir / "lora" / "style")
    asyncio.run(image_grid.xy_plot("a cat", "", "tiny-sd15", "Euler", 2, 7, 3, 32, 32, "lora", "none, style:1", "none",
                                   "", "zh", request=me))
    rows = _table(mywork.remember(browser, me, "zh")).to_dict("records")
    assert [r["来自"] for r in rows] == ["文生图 · LoRA 对比", "语音合成 · 多角色对话", "语音合成 · 固定音色",
                                       "语音合成 · 固定音色"]
    assert "你好" in rows[1]["内容"] and {"第一句", "第二句"} == {rows[2]["内容"].split(" · ")[0],
                                                                rows[3]["内容"].split(" · ")[0]}


def test_every_run_that_saves_a_file_is_wired_to_my_work(studio_env):
    """Each saving event (experiments included) is followed, on success, by mywork.remember."""
    from tabs import mywork
    demo = app.build_demo()
    fns = list(demo.fns.values())
    for name in ("generate_image", "xy_plot", "synthesize_speech", "prosody_comparison", "fixed_voice", "dialogue",
                 "generate_video", "compose_page"):
        event = next(f for f in fns if f.api_name == name)
        assert any(f.fn is mywork.remember and f.trigger_after == event._id and f.trigger_only_on_success
                   for f in fns), f"{name} is not listed in 我的作品"


def test_an_entry_saved_before_still_lists_by_its_file_name(studio_env):
    from studio.core import history
    from studio.core.config import settings
    from tabs import mywork
    browser = history.new_id()
    old = Path(settings().output_dir).resolve() / "images" / "20240101-120000-0001.png"
    old.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image
    Image.new("RGB", (8, 8)).save(old)
    folder = Path(settings().output_dir).resolve() / "history"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{browser}.jsonl").write_text(json.dumps({"path": str(old), "caption": "seed 3", "time": time.time()})
                                             + "\n", encoding="utf-8")
    result = mywork.recall(browser, "zh")
    assert result[2] == [str(old)] and result[1] == [(str(old), old.name)]
    (row,) = _table(result).to_dict("records")
    assert row["文件"] == old.name and row["内容"] == "seed 3"
    assert history.items(browser) == [(str(old), "seed 3")]  # the old reader's view is unchanged


@pytest.mark.slow
@pytest.mark.usefixtures("page")
def test_my_work_table_in_the_browser_shows_the_tab_and_the_prompt(page):  # noqa: F811
    panel = _open(page, "文生图")
    panel.get_by_label("提示词 (Prompt)").fill(PROMPT)
    panel.get_by_role("button", name="生成", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                           "t.value.includes('Seed:') && t.value.includes('mini-shapes'))")
    _open(page, "我的作品")
    # what the page shows of the table (its rows are a virtual list of divs beside the header's <table>)
    page.wait_for_function("(prompt) => { const t = document.querySelector('#mywork_table');"
                           " return t && t.offsetParent && t.innerText.includes(prompt); }", arg=PROMPT)
    text = page.locator("#mywork_table").inner_text()
    assert "来自" in text and "内容" in text
    assert "文生图" in text and PROMPT in text
