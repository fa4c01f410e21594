"""Issue 35, findings 9 and 10: what a user typed is shown as text, and every refusal carries the studio's reason.

- Typed HTML (a model or LoRA name) reaches gr.Error's pop-up, which renders HTML: it must arrive escaped, and a
  browser must show it as text (no <img> created).
- Bad numbers through gradio_client and raw HTTP (NaN, infinities, text, huge, negative, booleans, None) are
  answered with the studio's message naming the parameter and its range, in the session's language, not Gradio's
  bare "error" or English bounds message.
- Bad img2img uploads and crafted PNGs in PNG 信息 get the studio's message (never "internal error") and the app
  keeps serving.
- A join past the queue's max_size gets the studio's "queue is full" message in Chinese (both languages for a raw
  HTTP join, whose language is unknown).
"""
from __future__ import annotations

import io
import json
import re
import struct
import threading
import zlib

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests import serving


TYPED = '<img src=x onerror=alert(1)><a href="javascript:alert(9)">x</a>'
NUMBER_WORDS = {"zh": ("应在", "必须是数字"), "en": ("must be between", "must be a number")}


@pytest.fixture
def served(studio_env):
    with serving.served() as (url, demo):
        yield demo, url, Client(url, verbose=False)


def _defaults(client: Client, api_name: str) -> dict:
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    values = {p["parameter_name"]: (p["parameter_default"] if p["parameter_has_default"] else p.get("example_input"))
              for p in params}
    # Example files are URLs to download (no network here): no file instead.
    return {k: (None if isinstance(v, dict) and "url" in v else [] if isinstance(v, list) and v and
                isinstance(v[0], dict) and "url" in v[0] else v) for k, v in values.items()}


def _http(url: str, api_name: str, data: list) -> str:
    """A raw HTTP call (/gradio_api/call): the error message it ends with ('' when it succeeded)."""
    base = url.rstrip("/") + "/gradio_api"
    body = json.dumps({"data": data})  # Python writes NaN / Infinity, which Gradio's JSON reader accepts
    posted = httpx.post(f"{base}/call{api_name}", content=body, headers={"content-type": "application/json"})
    assert posted.status_code == 200, posted.text
    stream = httpx.get(f"{base}/call{api_name}/{posted.json()['event_id']}", timeout=120).text
    events = [line[7:] for line in stream.splitlines() if line.startswith("event: ")]
    datas = [line[6:] for line in stream.splitlines() if line.startswith("data: ")]
    if events[-1] != "error":
        return ""
    payload = json.loads(datas[-1]) if datas else None
    return (payload or {}).get("error") or "" if isinstance(payload, dict) else str(payload or "")


def _message(fn) -> str:
    with pytest.raises(Exception) as err:
        fn()
    return str(err.value)


# ---- typed HTML reads as text ----

def test_typed_html_in_a_model_or_lora_name_is_escaped_in_the_error_popup(served):
    demo, url, client = served
    message = _message(lambda: client.predict("x", "", TYPED, "Euler a", 1, 7, 1, 64, 64, 1,
                                              api_name="/generate_image"))
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;a href=" in message and "<img" not in message
    assert "<a " not in message
    lora = _message(lambda: client.predict("x", "", "tiny-sd15", "Euler a", 1, 7, 1, 64, 64, 1, 1, "txt2img", None,
                                           0.75, 1, "Latent", 0, 0.5, [TYPED], 0.8, api_name="/generate_image"))
    assert "LoRA" in lora and "&lt;img" in lora and "<img" not in lora
    # The same through raw HTTP: Gradio sends the escaped text to the browser's pop-up.
    data = list(_defaults(client, "/generate_image").values())
    data[2] = TYPED
    raw = _http(url, "/generate_image", data)
    assert "&lt;img" in raw and "<img" not in raw


def test_notices_quote_typed_text_as_markdown_text():
    import html
    import re

    from markdown_it import MarkdownIt

    from tabs.ui import notices_md
    notices = [f"模型“{TYPED}”不用流偏移",
               "see www.example.com, http://x.y/z, a@b.cn, ![i](http://e/x.png) *b* _i_ `c` ~~s~~",
               "LoRA “ink_wash-2” | a | b |"]
    md = notices_md(notices)
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    assert "<img" not in rendered and "<a " not in rendered and "<em>" not in rendered, rendered
    items = [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", rendered, re.S)]
    assert items == notices, items  # each notice reads as exactly its text, one list item each
    assert not re.search(r"(?<!\\)(https?:|www\.|@)", md), md  # GFM would link a bare address


# ---- bad numbers ----

CLIENT_BAD = ["abc", 1e308, -5, True, None, [1]]
RAW_BAD = [float("nan"), float("inf"), "abc", 10**30, -5, True, None, {"a": 1}]
# endpoint -> numeric parameters checked (each gets every bad value)
NUMERIC = {
    "/generate_image": ["steps", "seed", "width", "denoising_strength"],
    "/generate_text": ["temperature", "max_new_tokens"],
    "/token_distribution": ["top_p"],
    "/generate_video": ["num_frames"],
    "/synthesize_speech": ["speed"],
    "/train_lora": ["rank", "learning_rate"],
}
ACCEPTS_NONE = {"seed", "learning_rate", "resolution"}  # an empty box: a random seed, the default
UNBOUNDED = {"learning_rate"}  # a gr.Number without bounds: the studio checks its range after the images


def _applies(name: str, value) -> bool:
    if value is None and name in ACCEPTS_NONE:
        return False
    return not (name in UNBOUNDED and isinstance(value, (int, float)) and not isinstance(value, bool)
                and value == value and abs(value) != float("inf"))


def _refused_with_reason(message: str, name: str, lang: str) -> bool:
    """The control named as the page labels it, then the API parameter: “采样步数 (Steps) · steps”."""
    return re.search(f"“([^”]* · )?{re.escape(name)}”", message) is not None if lang == "zh" else \
        re.search(f"'([^']* · )?{re.escape(name)}'", message) is not None and any(
            w in message for w in NUMBER_WORDS["en"])


def test_bad_numbers_through_gradio_client_and_raw_http_name_the_parameter_in_chinese(served):
    demo, url, client = served
    misses = []
    for api_name, names in NUMERIC.items():
        defaults = _defaults(client, api_name)
        keys = list(defaults)
        for name in names:
            for value in RAW_BAD:
                if not _applies(name, value):
                    continue
                data = [value if k == name else defaults[k] for k in keys]
                message = _http(url, api_name, data)
                if not (_refused_with_reason(message, name, "zh") and any(w in message for w in NUMBER_WORDS["zh"])):
                    misses.append(("http", api_name, name, value, message[:120]))
            for value in CLIENT_BAD[:2] if api_name != "/generate_image" else CLIENT_BAD:
                if not _applies(name, value):
                    continue
                kwargs = {**defaults, name: value}
                message = _message(lambda: client.predict(**kwargs, api_name=api_name))
                if not _refused_with_reason(message, name, "zh"):
                    misses.append(("client", api_name, name, value, message[:120]))
    assert not misses, f"{len(misses)} bad numbers without the studio's reason:\n" + "\n".join(map(str, misses))
    defaults = _defaults(client, "/generate_image")  # the page's label first, for the learner who typed it
    message = _http(url, "/generate_image", [0 if k == "steps" else v for k, v in defaults.items()])
    assert "参数“采样步数 (Steps) · steps”应在 1 到 150 之间，收到 0" in message, message


def test_bad_numbers_in_an_english_session_are_explained_in_english(studio_env):
    studio_env(STUDIO_LANG="en")
    with serving.served() as (url, demo):
        client = Client(url, verbose=False)
        defaults = _defaults(client, "/generate_image")
        for name, value in (("steps", float("nan")), ("width", 5000), ("cfg_scale", "abc"), ("seed", float("inf"))):
            data = [value if k == name else v for k, v in defaults.items()]
            message = _http(url, "/generate_image", data)
            assert _refused_with_reason(message, name, "en"), (name, value, message)
        message = _message(lambda: client.predict(**{**defaults, "steps": 10**6}, api_name="/generate_image"))
        assert "'steps' must be between 1 and 150" in message, message  # the label is the parameter here


# ---- bad uploads and crafted PNGs ----

def _chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def _png(width=8, height=8, chunks: list[bytes] = ()) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * 3 * min(width, 64) for _ in range(min(height, 64))))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def _saved(image: Image.Image, fmt="PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _uploads() -> dict[str, tuple[bytes, str, bool]]:
    """name -> (file bytes, suffix, whether it is a usable image)."""
    good = _saved(Image.new("RGB", (64, 64), (200, 30, 30)))
    return {
        "not an image": (b"just some text, not a picture", ".png", False),
        "truncated": (good[: len(good) // 2], ".png", False),
        "bomb": (_png(60000, 60000), ".png", False),  # 3.6 G pixels in a header: PIL's own guard fires
        "too big": (_png(5000, 5000), ".png", False),  # over STUDIO_MAX_UPLOAD_PIXELS, under PIL's guard
        "1x1": (_saved(Image.new("RGB", (1, 1), (0, 0, 255))), ".png", True),
        "palette": (_saved(Image.new("RGB", (64, 64), (0, 128, 0)).convert("P")), ".png", True),
        "cmyk": (_saved(Image.new("CMYK", (64, 64), (0, 50, 100, 0)), "JPEG"), ".jpg", True),
        "16-bit": (_saved(Image.new("I;16", (64, 64), 40000)), ".png", True),
    }


def test_bad_img2img_uploads_get_the_studio_message_and_the_app_keeps_serving(served, tmp_path):
    demo, url, client = served
    for name, (data, suffix, usable) in _uploads().items():
        path = tmp_path / f"upload-{name.replace(' ', '-')}{suffix}"
        path.write_bytes(data)
        editor = {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path)), "id": None}
        try:
            client.predict("a red circle", "", "tiny-sd15", "Euler a", 1, 7, 1, 64, 64, 1, 1, "img2img", editor,
                           0.75, api_name="/generate_image")
            message = ""
        except Exception as exc:  # noqa: BLE001
            message = str(exc)
        assert "内部错误" not in message and "internal" not in message.lower(), (name, message)
        if not usable:
            assert any(w in message for w in ("不是可读取的图片", "解压炸弹", "太大")), (name, message)
        elif message:  # an odd but real image either works or gets a message the studio wrote
            assert any(w in message for w in ("参数", "尺寸", "图片")), (name, message)
    gallery, seeds, *_ = client.predict("a red circle", "", "tiny-sd15", "Euler a", 1, 7, 5, 64, 64, 1,
                                        api_name="/generate_image")
    assert seeds == "5" and len(gallery) == 1


def test_crafted_pngs_in_png_info_get_the_studio_message(studio_env, tmp_path):
    from tabs import image as image_tab
    huge = zlib.compress(b"a" * (2 * 1024 * 1024 + 7))
    crafted = {
        "huge iTXt": _png(chunks=[_chunk(b"iTXt", b"parameters\x00\x01\x00\x00\x00" + huge)]),
        "bad CRC": _png(chunks=[_chunk(b"tEXt", b"parameters\x00a\nSteps: 3, Seed: 1, Size: 8x8", crc=1)]),
        "bad zTXt": _png(chunks=[_chunk(b"zTXt", b"parameters\x00\x00" + b"not zlib at all")]),
        "non-UTF-8 iTXt": _png(chunks=[_chunk(b"iTXt", b"parameters\x00\x00\x00\x00\x00\xff\xfe\xfd")]),
        "invalid infotext": _png(chunks=[_chunk(b"tEXt", b"parameters\x00a cat\nSteps: 1e999, Seed: 9e999, "
                                                         b"CFG scale: x, Size: 8x8")]),
        "text after truncated pixels": _png(chunks=[])[:60],
        "not a png": b"GIF89a nonsense",
    }
    for name, data in crafted.items():
        path = tmp_path / f"{name.replace(' ', '-')}.png"
        path.write_bytes(data)
        for lang, words in (("zh", ("PNG", "图片")), ("en", ("PNG", "image"))):
            message = _message(lambda: image_tab.read_png(str(path), lang))
            assert "内部错误" not in message and "Internal error" not in message, (name, message)
            assert any(w in message for w in words), (name, lang, message)
    good = tmp_path / "good.png"
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{TYPED}\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64")
    Image.new("RGB", (8, 8)).save(good, pnginfo=info)
    text, fields, _note = image_tab.read_png(str(good), "zh")
    assert fields["seed"] == 5 and TYPED in text  # a Textbox shows it as text


# ---- the queue is full ----

def test_a_full_queue_answers_with_the_studios_message_in_chinese(studio_env, monkeypatch):
    from studio import api
    release, started = threading.Event(), threading.Event()

    def slow(*args, **kwargs):
        started.set()
        release.wait(60)
        raise RuntimeError("released")

    monkeypatch.setattr(api, "generate_image", slow)
    # Model events wait in the studio's scheduler (with its own message, tests/test_fair_queue.py); Gradio's own
    # line fills only when all of its threads are busy: one thread here, held by the first job.
    with serving.served(max_size=1, max_threads=1) as (url, demo):
        base = url.rstrip("/") + "/gradio_api"
        try:
            client = Client(url, verbose=False)
            data = list(_defaults(client, "/generate_image").values())
            jobs = [client.submit(*data, api_name="/generate_image")]  # runs, held
            assert started.wait(30)
            jobs.append(client.submit(*data, api_name="/generate_image"))  # waits: the queue is full
            for _ in range(300):
                if len(demo._queue) >= 1:
                    break
                threading.Event().wait(0.1)
            answer = httpx.post(f"{base}/call/generate_image", json={"data": data})
            assert answer.status_code in (429, 503)
            detail = answer.json()["detail"]
            assert "队列已满" in detail and "The queue is full" in detail, detail  # language unknown: both
            # A page session that switched to English gets English alone; one on the default page gets Chinese.
            fn_index = next(i for i, fn in demo.fns.items() if fn.api_name == "generate_image")
            switch = next(i for i, fn in demo.fns.items() if fn.fn is not None and fn.inputs and  # not the relabel
                          getattr(fn.inputs[0], "label", "") == "语言 / Language")  # in the browser: the session's
            for session, lang in (("page-en", "en"), ("page-zh", "zh")):
                switched = httpx.post(f"{base}/run/predict", json={"fn_index": switch, "data": [lang],
                                                                   "session_hash": session})
                assert switched.status_code == 200, switched.text
                joined = httpx.post(f"{base}/queue/join", json={"fn_index": fn_index, "data": data + [None],
                                                                "session_hash": session, "event_data": None,
                                                                "trigger_id": None})
                assert joined.status_code == 429, joined.text  # the browser shows the detail of a 429, not of a 503
                detail = joined.json()["detail"]
                assert ("The queue is full" in detail and "队列" not in detail) if lang == "en" else \
                    ("队列已满" in detail and "queue" not in detail), detail
        finally:
            release.set()
            for job in locals().get("jobs", []):
                try:
                    job.result(timeout=30)
                except Exception:  # noqa: BLE001 - the held jobs end with an error on purpose
                    pass


# ---- what a browser shows ----

@pytest.mark.parametrize("typed", [TYPED, "&lt;b&gt; is how HTML writes <b>", "a & b", "&amp;lt;", "`x<y` <b>z</b>",
                                   "```py\nif a<b:\n    pass\n```\n<i>after</i>", "unclosed ```<a href=x>"])
def test_the_chat_shows_a_text_copy_and_hands_the_model_what_was_typed(typed):
    from tabs import chat_text
    shown = chat_text.shown(typed)
    assert chat_text.typed(shown) == typed
    outside_code = re.sub(r"```.*?(```|$)|`[^`]*`", "", shown, flags=re.S)
    assert "<" not in outside_code and "&" not in outside_code.replace("&lt;", "").replace("&amp;", "")
    assert all(code in shown for code in re.findall(r"`[^`]+`", typed))  # code keeps its own text


def _chat_shows_typed_html_as_text(page):
    """文本生成's chat: the typed turn reads as its text (no picture, no link) and code keeps its `<`."""
    page.get_by_role("tab", name="文本生成", exact=True).click()
    panel = page.locator("[role=tabpanel]:visible").first
    panel.get_by_text("多轮对话", exact=True).click()
    model = panel.get_by_label("模型", exact=True).first
    model.fill("tiny-qwen2")
    model.press("Enter")
    typed = TYPED + " and `a<b`"
    panel.get_by_label("提示词 (Prompt)").first.fill(typed)  # the label holds its info= line too
    panel.get_by_role("button", name="发送", exact=True).click()
    bubble = panel.locator("[data-testid=user]").first
    bubble.wait_for()
    assert bubble.inner_text().strip() == typed.replace("`", ""), bubble.inner_text()
    assert bubble.locator("img, a").count() == 0 and bubble.locator("code").inner_text() == "a<b"


@pytest.mark.slow
def test_a_browser_shows_a_typed_model_name_as_text(studio_env, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, _chromium
    with serving.served() as (url, demo):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="文生图", exact=True).click()
            panel = page.locator("[role=tabpanel]:visible").first
            model = panel.get_by_label("模型", exact=True).first
            model.fill(TYPED)
            model.press("Enter")
            panel.get_by_role("button", name="生成", exact=True).click()
            toast = page.locator("[data-testid=toast-body]").first
            toast.wait_for()
            import os
            page.screenshot(path=os.path.join(os.environ.get("STUDIO_SCREENSHOT_DIR", str(tmp_path)), "typed-html.png"))
            text = toast.inner_text()
            assert "<img src=x onerror=alert(1)>" in text, text
            assert toast.locator("img, a").count() == 0
            assert page.evaluate("() => [...document.images].filter(i => i.getAttribute('src') === 'x').length") == 0
            _chat_shows_typed_html_as_text(page)
            browser.close()
