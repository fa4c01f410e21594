"""The projector layout (issue 36 items 2 and 7), measured in headless Chromium from the page itself.

On every generating tab the main button, the progress line (the notices) and the result are on screen together at
a laptop size and at a 1280x720 projector size, and the result stays in view while the controls scroll. In 课堂模式
at 1280x720 that still holds, the page uses the screen's width, every visible text is at least 18 px, the result's
caption at least 24 px, and no label wraps one word per line. One app and one Chromium for the module.
"""
from __future__ import annotations

import pytest

from tests.test_browser import _open, open_page, studio_in_chromium


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


# tab: (its main button, the caption of its main result)
TABS = {
    "文本生成": ("生成", "生成结果"),
    "文生图": ("生成", "结果"),
    "语音合成": ("合成", "结果（可播放、下载）"),
    "文生视频": ("生成视频", "视频（H.264 MP4）"),
    "跨模态创作": ("一键完成三步", "网页预览"),
    "模型微调 (LoRA)": ("开始训练", "训练损失"),
}
CLASSROOM = "课堂模式（大字号，适合投影）"
MIN_TEXT_PX, MIN_CAPTION_PX, MIN_WIDTH_SHARE = 18, 24, 0.95

# The open tab's main button, notices line, result block and the controls column (the child of the tab's layout
# row that holds the button), as viewport rectangles.
BOXES = """([button, caption]) => {
    const shown = e => e && e.checkVisibility({checkVisibilityCSS: true}) && e.getClientRects().length > 0;
    const panel = [...document.querySelectorAll('[role=tabpanel]')]
        .find(p => shown(p) && !p.parentElement.closest('[role=tabpanel]'));
    const rect = e => { if (!e) return null; const r = e.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height}; };
    const go = [...panel.querySelectorAll('button')].find(b => shown(b) && b.innerText.trim() === button);
    const captionEl = [...panel.querySelectorAll('*')].find(e => shown(e) && [...e.childNodes].some(
        n => n.nodeType === 3 && n.textContent.trim() === caption));
    const result = captionEl && (captionEl.closest('.block') || captionEl);
    const notices = [...panel.querySelectorAll('.studio-notices')].find(shown);
    let controls = null, row = null;
    if (go && result) {
        for (let e = go; e.parentElement && e.parentElement !== panel; e = e.parentElement)
            if (e.parentElement.contains(result)) { controls = e; row = e.parentElement; break; }
    }
    const size = e => e ? parseFloat(getComputedStyle(e).fontSize) : null;
    // what the result column holds is shown whole: not squeezed into a clipped sliver (a block of a fixed height
    // set by its component, a plot, may scroll inside by itself), not wrapped beside the column out of sight
    const column = row && [...row.children].find(c => c.contains(result));
    const col = column && column.getBoundingClientRect();
    const clipped = column ? [...column.children].filter(c => shown(c) && c.innerText.trim()).filter(c => {
        const r = c.getBoundingClientRect();
        return (!c.style.height && c.scrollHeight > c.clientHeight + 2) || r.left < col.left - 1
            || r.right > col.right + 1;
    }).map(c => `${c.innerText.trim().slice(0, 30)} (${c.clientHeight} of ${c.scrollHeight} px)`) : [];
    return {clipped, button: rect(go), notices: rect(notices), result: rect(result), controls: rect(controls),
            row: rect(row),
            caption_px: size(captionEl), notices_px: size(notices && (notices.querySelector('.prose') || notices)),
            scroll_y: window.scrollY, width: innerWidth, height: innerHeight};
}"""

# Every visible text of the page (header and open tab; not the footer, not inside a plot) smaller than `min` px,
# inputs' typed text included.
SMALL_TEXT = """(min) => {
    const out = [];
    const root = document.querySelector('.gradio-container');
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement, text = n.textContent.trim();
        // .katex-mathml: KaTeX's copy for screen readers, clipped to nothing on screen
        if (!text || !el || el.closest('footer, .vega-embed, .katex-mathml, script, style')) continue;
        if (!el.checkVisibility({checkVisibilityCSS: true, checkOpacity: true})) continue;
        const range = document.createRange(); range.selectNodeContents(n);
        if (![...range.getClientRects()].some(r => r.width > 0 && r.height > 0)) continue;
        const px = parseFloat(getComputedStyle(el).fontSize);
        if (px < min) out.push(`${px}px <${el.tagName.toLowerCase()} class="${el.className}"> ${text.slice(0, 30)}`);
    }
    for (const el of root.querySelectorAll('input, textarea')) {
        if (['checkbox', 'radio', 'range', 'hidden', 'file'].includes(el.type) || !el.checkVisibility()) continue;
        if (el.closest('footer') || !el.getClientRects().length) continue;
        const px = parseFloat(getComputedStyle(el).fontSize);
        if (px < min) out.push(`${px}px <${el.tagName.toLowerCase()} type=${el.type}> `
            + (el.value || el.placeholder).slice(0, 30));
    }
    return out;
}"""

# Labels (block labels, radio and checkbox labels, buttons, tabs) whose text wraps to fewer than 8 characters a
# line: 'LoRA / 权重', 'loade / d'.
WRAPPED_LABELS = """() => {
    const out = [];
    const root = document.querySelector('.gradio-container');
    const sel = '[data-testid=block-info], [data-testid=block-label], [role=tab], button, .label-text, ' +
                'label:not(:has([data-testid=block-info], .label-text))';  // a label's own text, not its hint
    for (const el of root.querySelectorAll(sel)) {
        if (el.closest('footer') || !el.checkVisibility({checkVisibilityCSS: true})) continue;
        const text = el.innerText.trim();
        if (!text || text.length > 40) continue;
        // Each text of the label on its own: an upload area's "拖放到此处 / - 或 - / 点击上传" are three blocks by
        // design; a wrapped label is one text broken over lines.
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const range = document.createRange(); range.selectNodeContents(n);
            const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
            // lines: runs of text boxes that overlap vertically
            let lines = 0, bottom = -Infinity;
            for (const r of rects.sort((a, b) => a.top - b.top)) {
                if (r.top >= bottom - 2) lines += 1;
                bottom = Math.max(bottom, r.bottom);
            }
            const own = n.nodeValue.trim();
            if (lines >= 2 && own.length / lines < 8)
                out.push(`${lines} lines: ${JSON.stringify(own)} in ${JSON.stringify(text)}`);
        }
    }
    return out;
}"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """(browser, url): the studio served as app.py serves it, with its CSS; tests open pages of their own sizes."""
    with studio_in_chromium(tmp_path_factory) as served:
        yield served


def _page(studio, width: int, height: int, classroom: bool = False):
    page = open_page(*studio, width, height)
    if classroom:
        page.get_by_label(CLASSROOM).check()
        page.wait_for_function("() => document.body.classList.contains('classroom')")
    return page


def _show(page, tab: str):
    """Open `tab` at the top of the page, its layout settled."""
    page.evaluate("() => window.scrollTo(0, 0)")
    _open(page, tab).get_by_role("button", name=TABS[tab][0], exact=True).first.wait_for()
    page.wait_for_timeout(600)


def _inside(box, width, height) -> bool:
    return bool(box) and box["width"] > 0 and box["height"] > 0 and box["top"] >= -1 and box["left"] >= -1 \
        and box["bottom"] <= height + 1 and box["right"] <= width + 1


def _in_view_problems(page, tab: str) -> list[str]:
    """Item 2 on the open tab: button, notices and result in view; after scrolling to the end of the controls the
    result is still in view."""
    boxes = page.evaluate(BOXES, list(TABS[tab]))
    w, h = boxes["width"], boxes["height"]
    problems = [f"{tab} @{w}x{h}: {what} not in view: {boxes[what]}" for what in ("button", "notices", "result")
                if not _inside(boxes[what], w, h)]
    problems += [f"{tab} @{w}x{h}: cut off in the result column (squeezed or wrapped out of sight): {text!r}"
                 for text in boxes["clipped"]]
    if boxes["controls"]:
        page.evaluate("y => window.scrollTo(0, y)", max(0, boxes["controls"]["bottom"] - h))
        page.wait_for_timeout(200)
        after = page.evaluate(BOXES, list(TABS[tab]))
        if not _inside(after["result"], w, h):
            problems.append(f"{tab} @{w}x{h}: result leaves the view when the controls scroll to their end "
                            f"(scrollY {after['scroll_y']}): {after['result']}")
        page.evaluate("() => window.scrollTo(0, 0)")
    return problems


@pytest.mark.parametrize("width,height", [(1440, 900), (1280, 720)])
def test_button_progress_and_result_in_view_on_every_generating_tab(studio, width, height):
    page = _page(studio, width, height)
    try:
        problems = []
        for tab in TABS:
            _show(page, tab)
            problems += _in_view_problems(page, tab)
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_classroom_mode_fills_a_projector_with_large_text_and_keeps_the_result_in_view(studio):
    page = _page(studio, 1280, 720, classroom=True)
    try:
        problems = []
        for tab in TABS:
            _show(page, tab)
            boxes = page.evaluate(BOXES, list(TABS[tab]))
            row = boxes["row"]
            if not row or row["width"] < MIN_WIDTH_SHARE * boxes["width"]:
                problems.append(f"{tab}: the layout uses {row['width'] if row else None} of {boxes['width']} px")
            if not (boxes["caption_px"] or 0) >= MIN_CAPTION_PX:
                problems.append(f"{tab}: result caption {boxes['caption_px']} px < {MIN_CAPTION_PX}")
            if not (boxes["notices_px"] or 0) >= MIN_CAPTION_PX:
                problems.append(f"{tab}: notices line {boxes['notices_px']} px < {MIN_CAPTION_PX}")
            small = page.evaluate(SMALL_TEXT, MIN_TEXT_PX)
            problems += [f"{tab}: text under {MIN_TEXT_PX} px: {t}" for t in small[:12]]
            if len(small) > 12:
                problems.append(f"{tab}: ... and {len(small) - 12} more texts under {MIN_TEXT_PX} px")
            problems += [f"{tab}: label wraps: {t}" for t in page.evaluate(WRAPPED_LABELS)]
            problems += _in_view_problems(page, tab)
        assert not problems, "\n".join(problems)
    finally:
        page.close()
