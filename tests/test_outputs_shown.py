"""Issue 36 item 8: outputs are shown whole and crisp, in headless Chromium with the mini models (64 px pictures).

Every picture of a batch of 8 and every frame of an 8 / 16 frame strip lies inside its gallery and every clipping
box around it; 64 px pictures scale with square pixels (image-rendering: pixelated) at no more than 4x; 停止 keeps
the last preview; the seed buttons are text (Debian's chromium has no emoji font); the 跨模态创作 caption with the
alignment score is not cut. One studio (served with app.py's CSS) and one Chromium for the module.
"""
from __future__ import annotations

import pytest

from tests.test_browser import _open, open_page, studio_in_chromium


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


SHOTS = "/tmp/outputs-shots"
MAX_SCALE = 4  # a 64 px picture is shown at most 256 px wide

# Each visible <img> under `root`: its box, and whether it lies inside every clipping ancestor and the viewport.
IMAGES = """(root) => {
    const out = [];
    for (const img of root.querySelectorAll('img')) {
        const r = img.getBoundingClientRect();
        let inside = r.width > 0 && r.height > 0 && r.top >= -1 && r.left >= -1
            && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1;
        for (let el = img.parentElement; el && inside; el = el.parentElement) {
            const cs = getComputedStyle(el);
            if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
            const c = el.getBoundingClientRect();
            inside = r.top >= c.top - 1 && r.left >= c.left - 1 && r.bottom <= c.bottom + 1 && r.right <= c.right + 1;
        }
        inside = inside && img.complete && img.naturalWidth > 0;
        out.push({inside, width: r.width, height: r.height, natural: img.naturalWidth,
                  rendering: getComputedStyle(img).imageRendering, src: img.src.slice(-40)});
    }
    return out;
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with studio_in_chromium(tmp_path_factory, STUDIO_PREVIEW_EVERY="5") as (browser, url):
        yield open_page(browser, url)


def _shot(page, name: str) -> None:
    import os
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png")


def _set(panel, label: str, value) -> None:
    box = panel.get_by_label(label).first  # the label holds the info line too: not exact
    box.fill(str(value))
    box.press("Enter")


def _images(page, gallery) -> list[dict]:
    page.evaluate("() => window.scrollTo(0, 0)")
    gallery.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    return gallery.evaluate(IMAGES)


def _image_gallery(panel):
    return panel.locator(".studio-main-result").first


def _run_image(page, panel, batch: int, steps: int):
    _set(panel, "每批数量 (Batch size)", batch)
    _set(panel, "采样步数 (Steps)", steps)
    panel.get_by_label("提示词 (Prompt)").fill("a big red circle on the left, blue background")
    panel.get_by_role("button", name="生成", exact=True).click()


def test_a_batch_of_8_shows_every_picture_crisp_and_not_blown_up(page):
    panel = _open(page, "文生图")
    _run_image(page, panel, 8, 4)
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                           "t.value.includes('Seed:') && t.value.includes('mini-shapes'))")
    gallery = _image_gallery(panel)
    gallery.locator("img").nth(7).wait_for()
    shown = _images(page, gallery)
    _shot(page, "image-batch-8")
    assert len(shown) == 8, shown
    clipped = [i for i in shown if not i["inside"]]
    assert not clipped, f"{len(shown) - len(clipped)} of 8 pictures in view; clipped: {clipped}"
    assert {i["rendering"] for i in shown} == {"pixelated"}, shown
    assert all(i["natural"] == 64 and i["width"] <= MAX_SCALE * 64 + 1 for i in shown), shown


def test_one_64px_picture_is_not_blown_to_the_column_width(page):
    panel = _open(page, "文生图")
    _run_image(page, panel, 1, 3)
    gallery = _image_gallery(panel)
    page.wait_for_function("(g) => g.querySelectorAll('img').length === 1", arg=gallery.element_handle())
    shown = _images(page, gallery)
    assert len(shown) == 1 and shown[0]["inside"], shown
    assert shown[0]["rendering"] == "pixelated" and shown[0]["width"] <= MAX_SCALE * 64 + 1, shown


def test_stop_keeps_the_last_preview(page):
    panel = _open(page, "文生图")
    for side in ("宽度", "高度"):  # a run that outlasts a click on a busy machine (150 steps at 64 px: 6 s idle)
        _set(panel, side, 128)
    _run_image(page, panel, 1, 150)
    gallery = _image_gallery(panel)
    # a preview (its caption names the step) is in the gallery: stop the run
    gallery.get_by_text("预览").first.wait_for()
    panel.get_by_role("button", name="停止", exact=True).click()
    panel.locator(".studio-notices").get_by_text("停止").first.wait_for()
    page.wait_for_timeout(1500)  # the run's last update has landed
    shown = _images(page, gallery)
    assert shown and shown[0]["inside"] and shown[0]["natural"] > 0, \
        f"after 停止 the result area shows no picture: {shown}"
    for side in ("宽度", "高度"):
        _set(panel, side, 64)


def test_a_release_held_back_during_a_live_redraw_does_not_replace_the_batch_generate_made(page):
    """实时 on: a knob released while a live redraw runs is held back by the browser (Gradio's always_last) and
    sent when that redraw ends, which is after a 生成 clicked meanwhile; it asks for what 生成 asked for, so 生成's
    batch of 4 stays in the gallery (it was replaced by one picture: tabs/image_live.py)."""
    panel = _open(page, "文生图")
    live = panel.get_by_label("实时").first
    was_live = live.is_checked()  # mini-shapes turns it on
    _set(panel, "每批数量 (Batch size)", 4)
    panel.get_by_label("提示词 (Prompt)").fill("a big red circle on the left, blue background")
    live.check()
    try:
        steps = panel.get_by_label("采样步数 (Steps)").first
        for value in (60, 61):  # the first release redraws (seconds); the second comes while it runs
            steps.fill(str(value))
            steps.press("Tab")  # a typed value is released on leaving the box
        panel.get_by_role("button", name="生成", exact=True).click()
        gallery = _image_gallery(panel)
        gallery.locator("img").nth(3).wait_for()  # 生成's batch (a live redraw draws one picture)
        page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                               "t.value.includes('Steps: 61'))")
        page.wait_for_timeout(8000)  # the held-back redraw (60 steps, a few seconds) has run or been skipped
        _shot(page, "live-then-generate")
        assert len(_images(page, gallery)) == 4
    finally:
        live.set_checked(was_live)
        _set(panel, "每批数量 (Batch size)", 1)


@pytest.mark.parametrize("frames", [8, 16])
def test_the_frame_strip_shows_every_frame(page, frames):
    panel = _open(page, "文生视频")
    _set(panel, "帧数", frames)
    _set(panel, "采样步数 (Steps)", 2)
    panel.get_by_role("button", name="生成视频", exact=True).click()
    strip = panel.get_by_text("逐帧", exact=True).first.locator("xpath=ancestor::div[contains(@class,'block')][1]")
    page.wait_for_function("([g, n]) => g.querySelectorAll('img').length === n", arg=[strip.element_handle(), frames])
    page.wait_for_timeout(1000)  # loaded, where they are in view (Gradio's thumbnails load lazily)
    shown = _images(page, strip)
    _shot(page, f"video-strip-{frames}")
    clipped = [i for i in shown if not i["inside"]]
    assert len(shown) == frames and not clipped, f"{len(shown) - len(clipped)} of {frames} frames in view: {shown}"
    assert {i["rendering"] for i in shown} == {"pixelated"}, shown
    assert all(i["width"] <= MAX_SCALE * i["natural"] + 1 for i in shown), shown


def test_my_work_pictures_are_pixelated(page):
    panel = _open(page, "我的作品")
    panel.locator("img").first.wait_for()
    shown = panel.locator("img").first.evaluate("i => getComputedStyle(i).imageRendering")
    assert shown == "pixelated"


def test_the_seed_buttons_read_without_an_emoji_font(page):
    panel = _open(page, "文生图")
    seed = panel.get_by_label("种子 (Seed)").first
    row = seed.locator("xpath=ancestor::*[contains(@class,'row')][1]")
    texts = row.locator("button").evaluate_all("bs => bs.map(b => ({text: b.innerText.trim(), "
                                               "icon: !!b.querySelector('img, svg')}))")
    assert len(texts) == 2, texts
    for button in texts:  # a text label of CJK / Latin letters, or an icon drawn without a font
        assert button["icon"] or (button["text"] and all(ord(ch) < 0x2000 or 0x4E00 <= ord(ch) <= 0x9FFF
                                                         for ch in button["text"])), texts
    # the text really renders: a glyph of width, not an empty box of tofu
    widths = row.locator("button").evaluate_all("bs => bs.map(b => { const r = document.createRange(); "
                                                "r.selectNodeContents(b); return r.getBoundingClientRect().width; })")
    assert all(w > 10 for w in widths), (texts, widths)


def test_the_crossmodal_caption_with_the_score_is_not_cut(page):
    panel = _open(page, "跨模态创作")
    panel.get_by_role("button", name="一键完成三步").click()
    page.wait_for_function("() => [...document.querySelectorAll('.caption-label')].some("
                           "c => c.offsetParent && c.innerText.includes('属性吻合'))")
    page.wait_for_timeout(500)
    captions = page.evaluate("() => [...document.querySelectorAll('.caption-label')].filter(c => c.offsetParent && "
                             "c.innerText.includes('属性吻合')).map(c => { c.scrollIntoView({block: 'center'}); "
                             "return {text: c.innerText, scroll: c.scrollWidth, client: c.clientWidth, "
                             "scrollH: c.scrollHeight, clientH: c.clientHeight}; })")
    _shot(page, "crossmodal-caption")
    cut = [c for c in captions if c["scroll"] > c["client"] + 1 or c["scrollH"] > c["clientH"] + 1]
    assert captions and not cut, f"captions cut off: {cut}"
