"""Issue 36 item 6: the mini models' limits are said beside the control where they bite, before the run, only while
the mini model is the one picked, in the page's language; the prompt builder offers mini-shapes' own words."""
from __future__ import annotations

import os

import pytest

from studio.image import shapes
from tabs import image_prompt, mini_limits
from tests.test_browser import CHROMIUM_ARGS, WAIT, _chromium, _open, page  # noqa: F401


SHOTS = os.environ.get("STUDIO_LIMITS_SHOTS", "/tmp/limits-shots")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_image_notes_show_for_mini_shapes_only(lang):
    negative, hires = mini_limits.image_notes("mini-shapes", lang)
    assert negative["visible"] and hires["visible"]
    assert "mini-shapes" in negative["value"] and "mini-shapes" in hires["value"]
    assert ("反向提示词" if lang == "zh" else "negative prompt") in negative["value"]
    assert ("两个色块" if lang == "zh" else "two blobs") in hires["value"]
    for other in ("sd15", "sdxl", "my-local-model"):
        assert [u["visible"] for u in mini_limits.image_notes(other, lang)] == [False, False]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_frames_note_for_mini_motion_only(lang):
    note = mini_limits.frames_note("mini-motion", 8, lang)
    assert note["visible"] and "8" in note["value"]
    assert ("散" if lang == "zh" else "fall apart") in note["value"]
    assert ("超过了 8 帧" if lang == "zh" else "more than 8") not in note["value"]  # 8 frames: no warning of the count
    over = mini_limits.frames_note("mini-motion", 16, lang)["value"]
    assert "16" in over and over != note["value"]  # past 8 frames the note names the count chosen
    assert mini_limits.frames_note("wan-1.3b", 81, lang)["visible"] is False


def test_mini_shapes_chips_use_the_training_captions_words():
    groups = dict((key, choices) for key, choices in mini_limits.shape_chips("zh"))
    assert set(groups) == {"shape", "colour", "size", "position", "background"}
    assert {v for _label, v in groups["shape"]} == set(shapes.SHAPES)
    assert {v for _label, v in groups["colour"]} == set(shapes.COLOURS)
    labels = [label for _key, choices in mini_limits.shape_chips("zh") for label, _v in choices]
    assert "圆形" in labels and "蓝色背景" in labels and "左边" in labels
    labels = [label for _key, choices in mini_limits.shape_chips("en") for label, _v in choices]
    assert "circle" in labels and "blue background" in labels and "on the left" in labels
    assert mini_limits.shape_chips("en")[0][1][0][1] == mini_limits.shape_chips("zh")[0][1][0][1]  # same values
    # the assembled prompt is a training caption: what studio.image.shapes' own caption writer makes, in either language
    picked = dict(shape="star", colour="yellow", size="small", position="right", background="purple")
    assert mini_limits.describe(*(picked[k] for k in mini_limits.CHIP_KEYS), "en") == \
        "a small yellow star on the right, purple background"
    assert mini_limits.describe(*(picked[k] for k in mini_limits.CHIP_KEYS), "zh") == \
        "紫色背景上的一个小黄色五角星，在右边"
    assert shapes.parse_prompt(mini_limits.describe(*(picked[k] for k in mini_limits.CHIP_KEYS), "zh")) == picked
    assert mini_limits.describe(None, None, None, None, None, "en") == ""


def test_builder_shows_mini_chips_for_mini_shapes_only():
    assert image_prompt.mini_visible("mini-shapes")["visible"] is True
    assert image_prompt.mini_visible("sd15")["visible"] is False
    # the mini words first, then the general library's (which mini-shapes ignores)
    general = [[] for _ in image_prompt.prompt_sections()]
    general[0] = ["猫"]
    mini = ["circle", "red", "big", "left", "blue"]
    assert image_prompt.assemble_for("mini-shapes", *mini, *general, "en", "zh") == \
        "a big red circle on the left, blue background, cat"
    # another model: the mini chips (hidden) are left out
    assert image_prompt.assemble_for("sd15", *mini, *general, "en", "zh") == "cat"


def _shown_text(page) -> str:
    return page.evaluate("() => [...document.querySelectorAll('[role=tabpanel]')].filter(p => p.offsetParent)"
                         ".map(p => p.innerText).join('\\n')")


@pytest.mark.slow
def test_page_says_the_mini_models_limits_before_a_run(page):
    os.makedirs(SHOTS, exist_ok=True)
    panel = _open(page, "文生图")
    panel.get_by_text("mini-shapes 没有为反向提示词训练过").first.wait_for()
    panel.get_by_text("高清修复 (Hires fix)").first.click()
    panel.get_by_text("mini-shapes 只认识 64×64 的图").first.wait_for()
    panel.get_by_text("提示词构建器").first.click()
    panel.get_by_text("mini-shapes 认识的词").first.wait_for()
    text = _shown_text(page)
    for word in ("圆形", "五角星", "红色", "左边", "蓝色背景", "SD 1.5 / SDXL"):  # chips in the page's language
        assert word in text, word
    assert "circle" not in text
    # the mini words come above the general library
    assert text.index("五角星") < text.index("猫")
    page.screenshot(path=f"{SHOTS}/image-mini-shapes.png", full_page=True)

    panel = _open(page, "文生视频")
    panel.get_by_text("mini-motion 只用 8 帧训练过").first.wait_for()
    frames = panel.get_by_label("帧数").first
    frames.fill("16")
    frames.press("Enter")
    panel.get_by_text("现在是 16 帧").first.wait_for()  # past 8 frames the note names the count chosen
    page.screenshot(path=f"{SHOTS}/video-mini-motion.png", full_page=True)

    # in English, the same notes in English
    page.get_by_text("English", exact=True).first.click()
    panel = _open(page, "Text to video")
    panel.get_by_text("mini-motion was trained on 8 frames").first.wait_for()
    panel = _open(page, "Text to image")
    panel.get_by_text("mini-shapes was not trained for negative prompts").first.wait_for()
    panel.get_by_text("mini-shapes only knows 64×64 pictures").first.wait_for()
    panel.get_by_text("Words mini-shapes knows").first.wait_for()
    page.screenshot(path=f"{SHOTS}/image-mini-shapes-en.png", full_page=True)

    # another model: the notes and mini-shapes' chips go
    panel.get_by_label("Model", exact=True).first.click()
    page.get_by_role("option", name="Stable Diffusion 1.5 · sd15").click()
    page.wait_for_function("() => !document.body.innerText.includes('mini-shapes was not trained for negative')"
                           " && !document.body.innerText.includes('Words mini-shapes knows')"
                           " && !document.body.innerText.includes('only knows 64×64')")
    assert "The course's keyword library" in _shown_text(page)
    page.screenshot(path=f"{SHOTS}/image-sd15-en.png", full_page=True)
