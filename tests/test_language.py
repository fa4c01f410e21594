"""One language on the page (issue 36.4): every visible text of every tab reads in the page's language, whatever the
browser's locale, before and after the switch.

The scan reads every visible text node (and placeholder) of each tab and sub-tab: the Chinese page in a zh-CN and an
en-US browser, the English page after the switch in the zh-CN browser (each language against the browser's
locale). On the English page no node may hold Chinese script; on the Chinese page no node may hold a Latin word
outside the reviewed glossary (tabs/glossary.txt: sampler names, CFG, LoRA, top-k, ...) and the model registry's
own names. Nodes that hold what a user typed or a model wrote carry the `studio-free` class (raw data too) and are
skipped, as are the language names of the switch (each in its own script) and formulas.
"""
from __future__ import annotations

import re

import pytest

from tabs import glossary
from tests.test_browser import WAIT, studio_in_chromium


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


# Every visible text node and placeholder of the open page, each with the tab path it was found under.
VISIBLE_TEXTS = r"""() => {
  const out = [];
  const skip = '.studio-lang-names, .katex, script, style, [role=tablist]';  // KaTeX: math
  // In a studio-free block the data is skipped, its labels, headers, axis titles and legend are not.
  const label = '[data-testid=block-label], [data-testid=block-info], label, th, .role-axis-title, .role-legend';
  const free = (el) => el.closest('.studio-free') && !el.closest(label);
  const seen = (el) => el && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
                       && el.getBoundingClientRect().width > 0 && !el.closest(skip) && !free(el);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    const text = node.nodeValue.trim();
    if (text && seen(node.parentElement)) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder]'))
    if (el.placeholder && seen(el)) out.push(el.placeholder);
  return out;
}"""
MODEL_WORDS_SHOWN = """() => [...document.querySelectorAll('.studio-free svg text')].some(t => /[\u4e00-\u9fff]/.test(
    t.textContent)) && document.querySelector('.studio-free .role-legend')"""
OPEN_ACCORDIONS = """() => [...document.querySelectorAll('button.label-wrap:not(.open)')]
    .filter(b => b.checkVisibility()).map(b => b.click()).length"""
TAB_NAMES = ("(sel) => [...document.querySelectorAll(sel)].filter(t => t.checkVisibility())"
             ".map(t => t.textContent.trim())")
TOP_TABS = ".studio-tabs > .tab-wrapper [role=tab]"
SUB_TABS = "[role=tabpanel]:not([hidden]) .tab-wrapper [role=tab]"

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def foreign(text: str, lang: str) -> bool:
    """Whether `text` holds the other language's script."""
    if lang == "en":
        return bool(CJK.search(text))
    return bool(re.search(r"[A-Za-z]{2,}", glossary.strip_terms(text)))


def click(tab) -> None:
    """A tab opened as a learner's click opens it, without Playwright's wait for "scheduled navigations" after a
    click, which on the English page took 3-13 s a tab (most of this test's time) for no navigation at all."""
    tab.evaluate("el => el.click()")


def scan(page, lang: str) -> dict[str, list[str]]:
    """{tab path: texts in the other language's script}, over every top-level tab and each of its sub-tabs."""
    found: dict[str, list[str]] = {}
    for top in page.evaluate(TAB_NAMES, TOP_TABS):
        click(page.locator(TOP_TABS).get_by_text(top, exact=True))
        subs = page.evaluate(TAB_NAMES, SUB_TABS) or [None]
        for sub in subs:
            if sub:
                click(page.locator(SUB_TABS).get_by_text(sub, exact=True).first)
            page.wait_for_timeout(150)  # a tab mounts its components on first open
            while page.evaluate(OPEN_ACCORDIONS):  # what a learner unfolds is scanned too (nested ones next round)
                page.wait_for_timeout(150)
            bad = sorted({t for t in page.evaluate(VISIBLE_TEXTS) if foreign(t, lang)})
            if bad:
                found[f"{top} / {sub}" if sub else top] = bad
    return found


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with studio_in_chromium(tmp_path_factory) as running:
        yield running


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_every_visible_text_follows_the_page_language(studio, locale):
    """The Chinese page (the default) in a browser of either locale, and the English page after the switch in a
    zh-CN browser: each language is scanned against the browser's locale, and Chinese also on its own."""
    browser, url = studio
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT)
        page.goto(url)
        page.wait_for_function("document.documentElement.lang === 'zh-CN'")  # Gradio's words set to the page's
        # The model's own words, in a marked chart and table: mini-poem's next tokens, Chinese on either page, drawn
        # with the chart's axis titles and legend (which are scanned)
        page.locator(TOP_TABS).get_by_text("文本生成", exact=True).click()
        page.get_by_role("button", name="查看下一个词的概率").click()
        page.wait_for_function(MODEL_WORDS_SHOWN)
        zh, en = scan(page, "zh"), {}
        if locale == "zh-CN":  # the English page against the browser's locale (an en-US browser's own is the easy one)
            page.locator(".studio-header .studio-lang-names").get_by_text("English", exact=True).click()
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_function(MODEL_WORDS_SHOWN)  # still there after the switch, now beside English words
            en = scan(page, "en")
    finally:
        context.close()
    assert (zh, en) == ({}, {}), f"{locale} browser; Latin words outside tabs/glossary.txt on the Chinese page: " \
                                 f"{zh}; Chinese on the English page: {en}"


def test_a_language_switch_uploads_nothing_from_the_untouched_control_canvases(studio):
    """With 文生图's ControlNet units open, switching the page's language sends the server no file: Gradio reads
    every editor inside each relabelled block, and an editor holding an untouched background image fetched and
    uploaded it again each time (20-40 uploads every 3 s from one page, for half a minute and more)."""
    browser, url = studio
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT)
        page.goto(url)
        click(page.locator(TOP_TABS).get_by_text("文生图", exact=True))
        page.get_by_text("ControlNet 控制", exact=False).first.click()
        for unit in ("单元 2", "单元 1"):  # both units' editors mounted
            click(page.locator(SUB_TABS).get_by_text(unit, exact=True).first)
        page.locator("canvas:visible").first.wait_for()
        uploads: list[str] = []
        page.on("request", lambda r: uploads.append(r.url) if "/upload" in r.url else None)
        page.locator(".studio-header .studio-lang-names").get_by_text("English", exact=True).click()
        page.wait_for_function("document.documentElement.lang === 'en'")
        page.wait_for_timeout(6000)  # Playwright hands over the page's requests while it waits
    finally:
        context.close()
    assert uploads == [], f"{len(uploads)} uploads after the switch"


def test_the_glossary_keeps_terms_and_not_words():
    """The glossary clears the terms it lists, whole, and nothing else: an English sentence still counts."""
    assert not foreign("新手推荐 DPM++ 2M Karras；追求速度用 Euler a", "zh")
    assert not foreign("内置 mini-shapes 离线秒出图；sd15 / sdxl 需下载", "zh")  # registry keys
    assert foreign("Upload an image 或 select the draw tool", "zh")
    assert foreign("Steps 10", "zh")
    assert foreign("LoRAs", "zh")  # a term inside a longer word is not the term
    assert foreign("/ 128 个词元", "en")


def test_no_english_string_holds_chinese():
    """Every English label, message and prompt-library entry (those the scan cannot reach: errors, notices, other
    templates) is free of Chinese script."""
    import json
    from pathlib import Path

    import app  # noqa: F401  (tabs add their own labels to STRINGS)
    from studio.core.i18n import MESSAGES
    from tabs.strings import STRINGS

    def english(value):
        if isinstance(value, dict):
            yield from ([value["en"]] if isinstance(value.get("en"), str) else [])
            for inner in value.values():
                yield from english(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from english(inner)

    texts = [en for table in (STRINGS, MESSAGES) for _zh, en in table.values()]
    for library in (Path(__file__).parent.parent / "assets" / "prompts").glob("*.json"):
        texts += english(json.loads(library.read_text(encoding="utf-8")))
    assert len(texts) > 500
    assert [t for t in texts if foreign(t, "en")] == []
