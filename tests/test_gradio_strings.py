"""Gradio's own words (footer, upload areas, the image editor, pop-up titles, refused uploads) follow the page's
language switch, not the browser's locale (issue 36 items 4 and 5).

One app and one Chromium for the module; each page is opened in a browser whose locale is the opposite of the page:
a Chinese page in an en-US browser and an English page in a zh-CN browser. Each test checks both.
"""
from __future__ import annotations

import re

import pytest

from tests.test_browser import WAIT, studio_in_chromium


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """{"zh": Chinese page in an en-US browser, "en": English page in a zh-CN browser}, each on 文生图 with its
    PNG 信息 open. The English page is switched after 文生图 (its editor and upload areas) was drawn in Chinese."""
    with studio_in_chromium(tmp_path_factory) as (browser, url):
        out = {}
        for lang, locale in (("zh", "en-US"), ("en", "zh-CN")):
            context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(WAIT)
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="文生图", exact=True).click()
            _mode(page, "zh", "img2img")
            _editor(page).wait_for()
            _panel(page).get_by_text("PNG 信息").first.click()
            _panel(page).locator("button:has(input[type=file])").first.wait_for()
            if lang == "en":
                page.get_by_label("English", exact=True).check()
                page.get_by_role("tab", name="Text to image", exact=True).wait_for()
            out[lang] = page
        yield out


def _panel(page):
    return page.locator("[role=tabpanel]:visible").first


def _mode(page, lang, mode):
    names = {"txt2img": ("文生图", "Text to image"), "img2img": ("图生图", "Image to image")}[mode]
    _panel(page).get_by_label(names[lang == "en"], exact=True).check()


def _editor(page):
    return _panel(page).locator("[data-testid=image]").filter(has=page.locator("canvas")).first


def test_footer_follows_the_page(pages):
    zh, en = pages["zh"].locator("footer"), pages["en"].locator("footer")
    zh.get_by_text("通过 API 使用").wait_for()
    en.get_by_text("Use via API").wait_for()
    zh_text, en_text = zh.inner_text(), en.inner_text()
    assert "使用 Gradio 构建" in zh_text and "设置" in zh_text, zh_text
    assert not re.search(r"Use via|Built with|Settings", zh_text), zh_text
    assert "Built with Gradio" in en_text and "Settings" in en_text and not CJK.search(en_text), en_text


def test_upload_areas_follow_the_page(pages):
    for lang, page in pages.items():
        _mode(page, lang, "img2img")
    zh, en = _editor(pages["zh"]), _editor(pages["en"])
    zh.get_by_text("上传图片").wait_for()
    en.get_by_text("Upload an image").wait_for()
    zh_text, en_text = zh.inner_text(), en.inner_text()
    # The editor's own words (the label above is the studio's): layer name, upload hint, "or", draw hint.
    assert "图层 1" in zh_text and "选择画笔工具开始" in zh_text, zh_text
    assert not re.search(r"Layer|Upload|select the draw|\bor\b", zh_text), zh_text
    own = en_text.split("\n", 1)[1]  # below the label
    assert "Layer 1" in own and "select the draw tool to start" in own and not CJK.search(own), en_text
    # 文生图's other upload area (PNG info): Gradio's drop / click words.
    for lang, page, words in (("zh", pages["zh"], ("将文件拖放到此处", "点击上传")),
                              ("en", pages["en"], ("Drop File Here", "Click to Upload"))):
        area = _panel(page).locator("button:has(input[type=file])").filter(has_text=words[1]).first
        area.wait_for()
        text = area.inner_text()
        assert all(w in text for w in words), (lang, text)
        assert (not re.search(r"[A-Za-z]{3,}", text)) if lang == "zh" else not CJK.search(text), (lang, text)


def test_a_file_that_is_not_an_image_is_named(pages, tmp_path):
    """A .txt chosen or dropped into the img2img editor: exactly one message, in the page's language, naming the
    file and what the editor takes."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    zh, en = pages["zh"], pages["en"]
    for lang, page in pages.items():
        _mode(page, lang, "img2img")
    _editor(zh).locator("input[type=file]").set_input_files(str(notes))  # the file picker
    en.evaluate("""(name) => {  // a drag and drop
        const zone = [...document.querySelectorAll('[role=tabpanel] [data-testid=image]')]
            .find(el => el.offsetParent && el.querySelector('canvas')).querySelector('input[type=file]').parentElement;
        const dt = new DataTransfer();
        dt.items.add(new File(['not a picture'], name, {type: 'text/plain'}));
        for (const kind of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(kind, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", "notes.txt")
    for lang, page, title, words in (("zh", zh, "出错了", ("notes.txt", "图片")),
                                     ("en", en, "Error", ("notes.txt", "image"))):
        toast = page.locator("[data-testid=toast-body]").first
        toast.wait_for()
        page.wait_for_function("() => document.querySelector('[data-testid=toast-text]')?.textContent.trim()")
        texts = page.locator("[data-testid=toast-text]").all_inner_texts()
        assert len(texts) == 1, (lang, texts)
        assert toast.locator(".toast-title").inner_text().strip() == title, lang
        assert all(w in texts[0] for w in words) and "Invalid file type" not in texts[0], (lang, texts)
        assert (CJK.search(texts[0]) is not None) == (lang == "zh"), (lang, texts)


def _messages(page) -> list[str]:
    """The texts of the pop-ups a step brought, once it has settled (every run it queued answered), then closed."""
    page.locator("[data-testid=toast-text]").first.wait_for()
    page.wait_for_timeout(1000)  # a second message, if the step brings one, comes from an event queued with it
    texts = [t.strip() for t in page.locator("[data-testid=toast-text]").all_inner_texts()]
    _close_messages(page)
    return texts


def _close_messages(page):
    """Close the pop-ups; one that goes by itself meanwhile (Gradio's timer: inert, then detached) is as good (a
    plain click waited two minutes for such a one in CI)."""
    from playwright.sync_api import Error as PlaywrightError
    for close in page.locator("[data-testid=toast-close]").all():
        try:
            close.click(timeout=5000)
        except PlaywrightError:
            pass
    page.locator("[data-testid=toast-body]").first.wait_for(state="detached")


def _refusal(lang, texts, typed, allowed, label):
    """Exactly one message: the control's label, what was typed and what is allowed, in the page's language."""
    assert len(texts) == 1, (lang, texts)
    text = texts[0]
    assert label.lower() in text.lower() and typed in text and allowed in text, (lang, text)
    assert "greater than" not in text and (CJK.search(text) is not None) == (lang == "zh"), (lang, text)


def test_error_toast_follows_the_page(pages):
    """A width over the slider's maximum, 生成 clicked straight out of the box: one pop-up, title and text in the
    page's language, naming the 5000 typed (not the 2048 Gradio's slider would pull the box back to, nor Gradio's
    English 'Value 5000 is greater than maximum value 2048.'); the box keeps 5000 to be corrected."""
    for lang, page, width, run, title in (("zh", pages["zh"], "宽度", "生成", "出错了"),
                                          ("en", pages["en"], "Width", "Generate", "Error")):
        _close_messages(page)  # an earlier test's
        _mode(page, lang, "txt2img")
        box = _panel(page).get_by_label(f"number input for {width}", exact=True)
        box.fill("5000")
        _panel(page).get_by_role("button", name=run, exact=True).click()
        assert page.locator(".toast-title").first.inner_text().strip() == title, lang
        _refusal(lang, _messages(page), "5000", "2048", width)
        assert box.input_value() == "5000", lang
        box.fill("512")
        box.blur()


def test_a_typed_number_is_named_as_typed(pages):
    """实时 on: leaving the box redraws, and 5000 gets one message naming 5000. 实时 off (a large model's case):
    the click alone, one message naming 5000. The text tab's temperature typed over its 2: named once on leaving
    the box and once per click, never run at 2."""
    page = pages["zh"]
    _close_messages(page)
    _mode(page, "zh", "txt2img")
    box = _panel(page).get_by_label("number input for 宽度", exact=True)
    live = _panel(page).get_by_label("实时", exact=True)
    assert live.is_checked()  # mini-shapes' default
    box.fill("5000")
    box.press("Tab")
    _refusal("zh", _messages(page), "5000", "2048", "宽度")
    live.uncheck()
    _panel(page).get_by_role("button", name="生成", exact=True).click()
    _refusal("zh", _messages(page), "5000", "2048", "宽度")
    box.fill("512")
    box.blur()
    live.check()
    page.get_by_role("tab", name="文本生成", exact=True).click()
    temperature = _panel(page).get_by_label("number input for 温度 (Temperature)", exact=True)
    temperature.fill("5")  # the next-token bars redraw as the box changes: not at 5, and no message per key
    temperature.press("Tab")
    _refusal("zh", _messages(page), "5", "2", "温度")
    _panel(page).get_by_role("button", name="生成", exact=True).click()
    _refusal("zh", _messages(page), "5", "2", "温度")
    assert temperature.input_value() == "5"
    temperature.fill("0.8")
    temperature.blur()
    page.get_by_role("tab", name="文生图", exact=True).click()


def test_refused_upload_message():
    """The words the page's refused-upload box turns into (no browser): file named, kind in the language."""
    import gradio as gr

    from tabs import gradio_locale
    for lang, kind in (("zh", "图片"), ("en", "images")):
        with pytest.raises(gr.Error) as err:
            gradio_locale.refuse_upload('{"files": ["<b>notes</b>.txt"], "accept": "image/*"}', lang)
        text = err.value.message
        assert "&lt;b&gt;notes&lt;/b&gt;.txt" in text and kind in text, text  # shown as text, not HTML
    assert gradio_locale.allowed_text(".zip, .safetensors", "en") == ".zip, .safetensors"
    assert gradio_locale.refuse_upload("not json", "en") is None  # nothing to report
    tables = gradio_locale.i18n().translations_dict
    assert tables["zh-CN"]["common.complete"] == "完成" and tables["zh-CN"]["image_editor.layer"] == "图层"
