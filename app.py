"""AIGC Studio: assembles the tabs into one gr.Blocks app and launches it.

    python app.py [--host 0.0.0.0] [--port 7860] [--share] [--preload sd15,...] [--lang en]

Every flag is also an environment variable; the full table is in studio/config.py and the README.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("SPACES_ZERO_GPU"):  # ZeroGPU needs `spaces` imported before torch touches CUDA
    import spaces  # noqa: F401

import gradio as gr  # noqa: E402

from studio import api  # noqa: E402
from studio.config import configure, settings  # noqa: E402
from studio import history  # noqa: E402
from tabs import crossmodal, finetune, image, models, mywork, operator, speech, text, video  # noqa: E402
from studio import retention, zerogpu  # noqa: E402
from tabs.ui import GPU, UI  # noqa: E402
from tabs import server  # noqa: E402
from tabs import sessions  # noqa: E402

log = logging.getLogger("studio")

LANGS = [("中文", "zh"), ("English", "en")]
# 课堂模式: Gradio's theme sizes are CSS variables, so larger values on <body> enlarge the whole page for a projector.
CLASSROOM_CSS = """
body.classroom { --text-xxs: 13px; --text-xs: 15px; --text-sm: 17px; --text-md: 20px; --text-lg: 24px;
  --text-xl: 30px; --text-xxl: 36px; --input-text-size: 20px; --block-label-text-size: 17px;
  --block-info-text-size: 16px; --block-title-text-size: 19px; --button-large-text-size: 22px;
  --button-small-text-size: 18px; --button-large-padding: 14px 24px; --section-header-text-size: 19px; }
body.classroom .prose { font-size: 20px; }
"""
CLASSROOM_JS = "(on) => { document.body.classList.toggle('classroom', !!on); return []; }"


def build_demo() -> gr.Blocks:
    ui = UI(settings().lang)
    # delete_cache: Gradio drops its temporary copies after an age (retention.sweep_temp adds a quota).
    with gr.Blocks(title="AIGC Studio · AIGC 创作工坊", delete_cache=retention.delete_cache()) as demo:
        lang = gr.State(ui.lang)
        # Top level (components inside a tab mount only when the tab opens); a fixed secret from the outputs
        # folder, so the id still decrypts after a restart.
        browser_id = gr.BrowserState("", storage_key="aigc_studio_browser", secret=history.secret())
        with gr.Row(equal_height=True):
            with gr.Column(scale=8):
                ui.md("app.title")
            with gr.Column(scale=2, min_width=160):
                switch = gr.Radio(LANGS, value=ui.lang, label="语言 / Language", container=False)
                classroom = ui.add(gr.Checkbox, "app.classroom", value=settings().classroom, container=False)
        with gr.Tabs():
            for name in ("text", "image", "speech", "video", "crossmodal", "finetune", "models", "mywork"):
                with ui.tab(f"tab.{name}"):
                    if name == "text":
                        text.build(ui, lang)
                    elif name == "image":
                        image.build(ui, lang)
                    elif name == "speech":
                        speech.build(ui, lang)
                    elif name == "finetune":
                        finetune.build(ui, lang)
                    elif name == "video":
                        video.build(ui, lang)
                    elif name == "crossmodal":
                        crossmodal.build(ui, lang)
                    elif name == "mywork":  # last: it wires every tab's saving runs to this browser's list
                        mywork.build(ui, lang, demo, browser_id)
                    else:
                        models.build(ui, lang, demo)
        switch.change(lambda choice: [choice, *ui.relabel(choice)], switch, [lang, *ui.components],
                      api_visibility="private", queue=False)
        operator.build(ui, lang, demo)
        sessions.install(demo)  # a closed page's server-side values are freed
        classroom.change(None, classroom, None, js=CLASSROOM_JS, api_visibility="private", queue=False)
        demo.load(None, classroom, None, js=CLASSROOM_JS, api_visibility="private", queue=False)
        for fn, inputs, outputs in ui.switch_events:
            switch.change(fn, [switch, *inputs], outputs, api_visibility="private", queue=False)
    return demo


def preload(keys: list[str]) -> None:
    """Load models in the background so the page is up at once and a class does not wait later."""
    def work():
        for key in keys:
            try:
                api.load(key)
                log.info("preloaded %s", key)
            except Exception as exc:  # a missing model must not stop the studio
                log.warning("preload of %s failed: %s", key, exc)
    threading.Thread(target=work, name="preload", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = configure(sys.argv[1:] if argv is None else argv)
    retention.start()
    demo = build_demo()
    demo.queue(max_size=s.queue_size, default_concurrency_limit=1)
    if zerogpu.active():  # models load at start-up and stay; each model event borrows the GPU
        log.info("ZeroGPU: %d model events wrapped in spaces.GPU", zerogpu.wrap_gpu_events(demo, GPU))
        for key in s.preload:
            api.load(key)
    elif s.preload:
        preload(s.preload)
    server.launch(demo, css=CLASSROOM_CSS)


if __name__ == "__main__":
    main()
