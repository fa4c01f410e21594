"""Each tab's default action in a real browser: Debian's headless Chromium driven by Playwright, with the mini
models, the way a learner clicks through the page.

Chromium comes from the Debian package (Playwright's own browser download does not work offline). When it is
missing and the tests run as root, the fixture installs it with apt-get; otherwise the tests fail saying how to
install it (a browser test that cannot run is not a pass).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest

import app


pytestmark = pytest.mark.slow  # Chromium (python -m pytest -m "not slow" skips it; CI runs everything)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT = 120_000  # ms: a cold first load of a model on a busy 2-core CI machine


def _chromium() -> str:
    found = os.environ.get("STUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"], check=False, env=env,
                       capture_output=True)
        found = shutil.which("chromium")
        if found:
            return found
    pytest.fail("Browser tests need Debian's chromium: sudo apt-get install -y chromium fonts-noto-cjk "
                "(or set STUDIO_CHROMIUM to a Chromium binary).")


@contextlib.contextmanager
def studio_in_chromium(tmp_path_factory, **env):
    """(browser, url): the studio with the built-in mini models, served as app.py serves it (its CSS too), and
    one headless Chromium (a fresh profile each launch). `env`: more settings."""
    from playwright.sync_api import sync_playwright

    from studio.core import config
    from studio.core.manager import ModelManager, reset_manager
    from tabs import server
    config.configure([], env={"STUDIO_OUTPUT_DIR": str(tmp_path_factory.mktemp("browser-outputs")),
                              "STUDIO_HUB": "local", "STUDIO_MODEL_DIRS": str(tmp_path_factory.mktemp("no-models")),
                              **env})
    reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}))
    demo = app.build_demo()
    demo.queue()
    _, url, _ = server.launch(demo, server_port=None, prevent_thread_lock=True, quiet=True, css=app.CLASSROOM_CSS)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            yield browser, url
            browser.close()
    finally:
        demo.close()
        config.configure([], env={})


def open_page(browser, url: str, width: int = 1400, height: int = 1000):
    tab = browser.new_page(viewport={"width": width, "height": height})
    tab.set_default_timeout(WAIT)
    tab.goto(url, wait_until="load")
    tab.get_by_role("tab", name="文生图").wait_for()
    return tab


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with studio_in_chromium(tmp_path_factory) as (browser, url):
        yield open_page(browser, url)


def _open(page, name: str):
    page.get_by_role("tab", name=name, exact=True).click()
    return page.locator("[role=tabpanel]:visible").first


def test_text_tab_writes_a_poem(page):
    panel = _open(page, "文本生成")
    panel.get_by_role("button", name="生成", exact=True).click()
    # The prompt box holds the start alone; the output box holds it and at least one written line. Not a length
    # bar: at a random seed about 1 poem in 20 ends after its first couplet (12 characters with the start).
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some("
                           "t => t.offsetParent && /^床前明月光.*[，。？！；].+/.test(t.value))")


def test_image_tab_draws_a_picture(page):
    panel = _open(page, "文生图")
    panel.get_by_label("提示词 (Prompt)").fill("a big red circle on the left, blue background")
    panel.get_by_role("button", name="生成", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                           "t.value.includes('Seed:') && t.value.includes('mini-shapes'))")  # the PNG's parameters
    assert panel.locator("img[src*='gradio_api/file']").count() >= 1


def test_a_drawn_triangle_and_a_pictures_edges_steer_mini_shapes(page, tmp_path):
    """ControlNet with the built-in mini ControlNet: a triangle drawn on the left of the canvas becomes a triangle on
    the left of the picture, in the prompt's colours (the prompt names no shape); then, as 边缘 (Canny), an uploaded
    picture of a square on the right gives a square on the right. (Stars are the mini ControlNet's weak shape: its
    card.)"""
    import urllib.request

    from PIL import Image

    from studio.image import shapes
    panel = _open(page, "文生图")
    panel.get_by_label("种子 (Seed)").fill("7")
    panel.get_by_text("ControlNet 控制", exact=False).first.click()
    panel.get_by_label("启用").first.check()
    canvas = panel.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    panel.get_by_role("button", name="画笔", exact=True).first.click()  # as the empty sheet says: pick the brush
    box = canvas.bounding_box()
    side = min(box["width"], box["height"]) * 0.8  # the white sheet, centred in the editor
    cx, cy, r = box["x"] + box["width"] / 2 - side * 0.25, box["y"] + box["height"] / 2, side * 0.2
    triangle = [(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r), (cx, cy - r)]  # one stroke
    page.mouse.move(*triangle[0])
    page.mouse.down()
    for x, y in triangle[1:]:
        page.mouse.move(x, y, steps=10)
    page.mouse.up()

    def picture(prompt: str) -> shapes.Analysis:
        panel.get_by_label("提示词 (Prompt)").fill(prompt)
        panel.get_by_role("button", name="生成", exact=True).click()
        page.wait_for_function("(prompt) => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                               "t.value.startsWith(prompt) && t.value.includes('ControlNet 0'))", arg=prompt)
        src = panel.locator(".studio-main-result img").first.get_attribute("src")
        (tmp_path / "made.png").write_bytes(urllib.request.urlopen(src).read())
        return shapes.analyse(Image.open(tmp_path / "made.png"))
    made = picture("蓝色背景上的一个红色图形")  # the page's gallery shows it: read it back
    assert (made.shape, made.position, made.colour, made.background) == ("triangle", "left", "red", "blue")

    square = shapes.render(shapes.Spec("square", "green", "yellow", "big", "right"))
    square.resize((256, 256)).save(tmp_path / "square.png")
    panel.get_by_label("边缘 (Canny)").first.check()
    panel.locator("input[type=file]").first.set_input_files(str(tmp_path / "square.png"))
    page.wait_for_timeout(1000)
    made = picture("白色背景上的一个紫色图形")
    assert (made.shape, made.position, made.colour, made.background) == ("square", "right", "purple", "white")
    panel.get_by_label("启用").first.uncheck()


def test_speech_tab_speaks(page):
    panel = _open(page, "语音合成")
    panel.get_by_role("button", name="合成", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('audio')].some(a => a.src && a.offsetParent !== null)"
                           " || document.querySelector('[data-testid=\"waveform-controls\"]')")


def test_music_tab_writes_a_melody_in_the_asked_meter_and_mode(page):
    """A learner picks 3/4 and 羽 and presses 生成音乐: the page plays it and shows its ABC in 3/4 and the seed."""
    panel = _open(page, "音乐生成")
    for label, option in (("节拍", "3/4"), ("调式", "羽")):
        panel.get_by_label(label, exact=True).click()
        page.get_by_role("option", name=option, exact=True).click()
    panel.get_by_role("button", name="生成音乐", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.offsetParent && "
                           "t.value.includes('M:3/4') && t.value.includes('K:'))")  # the melody's ABC
    assert panel.get_by_label("本次种子").first.input_value().isdigit()
    page.wait_for_function("() => [...document.querySelectorAll('audio')].some(a => a.src && a.offsetParent !== null)"
                           " || document.querySelector('[data-testid=\"waveform-controls\"]')")


def test_video_tab_default_action(page):
    """The default action makes a clip with the built-in mini-motion and the page plays it."""
    panel = _open(page, "文生视频")
    panel.get_by_role("button", name="生成视频", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('video')].some(v => v.src && v.readyState >= 2)")
    assert panel.get_by_label("本次种子").first.input_value().isdigit()  # seed -1: the seed used is shown back


def test_crossmodal_tab_composes_the_page(page):
    _open(page, "跨模态创作").get_by_role("button", name="一键完成三步").click()
    page.wait_for_function("() => [...document.querySelectorAll('iframe')].some(f => f.contentDocument && "
                           "f.contentDocument.querySelector('h1') && [...f.contentDocument.images].length > 0 && "
                           "[...f.contentDocument.images].every(i => i.complete && i.naturalWidth > 0))")


def test_finetune_tab_trains_the_demo_lora(page):
    panel = _open(page, "模型微调 (LoRA)")
    panel.get_by_role("button", name="载入离线示例：水墨风格数据集（mini-shapes，CPU 上几分钟训完）").click()
    page.wait_for_function("() => document.querySelectorAll('[role=tabpanel] img').length >= 12")
    steps = panel.get_by_label("训练步数").first
    steps.fill("2")
    steps.press("Enter")
    panel.get_by_role("button", name="开始训练").click()
    panel.get_by_text("已保存 LoRA").wait_for()


def test_models_tab_lists_the_registry(page):
    panel = _open(page, "模型管理")
    panel.get_by_text("mini-shapes").first.wait_for()


def test_the_models_tab_follows_what_is_loaded_while_it_is_open(page):
    """The loaded-models table shows the manager's state on opening the tab and every 3 s while it stays open (its
    timer runs only then): a model loaded elsewhere (another learner, the teacher's script) appears, an unload
    empties it."""
    from studio import api
    loaded = "document.querySelector('#studio-loaded-models').innerText"
    _open(page, "文本生成")
    api.unload_all()
    api.load("mini-poem")
    _open(page, "模型管理")
    page.wait_for_function(f"() => {loaded}.includes('已加载') && {loaded}.includes('mini-poem')")
    api.unload_all()  # while the tab is open
    page.wait_for_function(f"() => !{loaded}.includes('mini-poem')", timeout=10_000)


def test_my_work_lists_what_this_browser_made_and_keeps_it_after_a_reload(page):
    """The picture, the speech and the page zip made by the tests above, listed for this browser; a reload (a new
    page session, the same browser) still shows them."""
    def listed():
        panel = _open(page, "我的作品")
        page.wait_for_function("() => { const t = [...document.querySelectorAll('[role=tabpanel]')].filter("
                               "p => p.offsetParent).map(p => p.innerText).join(' ');"
                               " return t.includes('.wav') && t.includes('.zip'); }")
        assert panel.locator("img").count() >= 1
    listed()
    page.reload(wait_until="load")
    page.get_by_role("tab", name="文生图").wait_for()
    listed()
