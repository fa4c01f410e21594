"""AIGC Studio: assembles the tabs into one gr.Blocks app and launches it.

    python app.py [--host 0.0.0.0] [--port 7860] [--share] [--preload sd15,...] [--lang en]

Every flag is also an environment variable; the full table is in studio/core/config.py and the README.
"""
from __future__ import annotations

import logging
import os
import sys
import threading


os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("SPACES_ZERO_GPU"):  # ZeroGPU needs `spaces` imported before torch touches CUDA
    import spaces  # noqa: F401

import gradio as gr

from studio import api
from studio.core import history, imports, retention, zerogpu
from studio.core.config import configure, settings
from studio.core.manager import ModelManager, reset_manager
from studio.core.scheduler import reset_scheduler
from tabs import (
    crossmodal,
    finetune,
    gradio_locale,
    image,
    models,
    music,
    mywork,
    operator,
    runner,
    server,
    sessions,
    slider_box,
    speech,
    text,
    video,
)
from tabs.ui import GPU, UI, Page, fresh_notices_on_click


log = logging.getLogger("studio")

LANGS = [("中文", "zh"), ("English", "en")]
# Layout (issue 36): on every generating tab the result column (elem_classes "studio-result") stays in view while
# the controls scroll; Gradio's container clips with overflow:hidden, which would hold position:sticky, so it clips
# with overflow:clip instead. The header is one compact line, so a 1280x720 projector shows button and result.
# 课堂模式: Gradio's theme sizes are CSS variables, so larger values on <body> enlarge the whole page for a projector;
# the derived sizes (labels, hints, radio labels...) are resolved on :root, so each is set here too. The page then
# uses the screen's width, every text is at least 18 px, hints are dark enough to read, short labels never wrap one
# word per line, and the result's caption and the notices line are 24 px.
CLASSROOM_CSS = """
.gradio-container { overflow: clip !important; }
.studio-result { position: sticky; top: 0; align-self: flex-start; max-height: 100vh; overflow-y: auto;
  flex-wrap: nowrap !important; }
.studio-result > * { flex-shrink: 0; }
.studio-header { align-items: center; gap: 8px 16px; flex-wrap: nowrap !important; }
.studio-header > * { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important; }
.studio-header > :first-child { flex: 1 1 0 !important; }
.studio-header .prose > * { display: inline; margin: 0 0.8em 0 0; }
.studio-header .prose h1 { font-size: 1.6em; }
body.classroom { --text-xxs: 18px; --text-xs: 18px; --text-sm: 18px; --text-md: 20px; --text-lg: 24px;
  --text-xl: 30px; --text-xxl: 36px; --body-text-size: 20px; --prose-text-size: 20px; --input-text-size: 20px;
  --block-label-text-size: 20px; --block-info-text-size: 18px; --block-title-text-size: 20px;
  --section-header-text-size: 20px; --chatbot-text-size: 22px; --checkbox-label-text-size: 20px;
  --button-large-text-size: 22px; --button-medium-text-size: 20px; --button-small-text-size: 18px;
  --button-large-padding: 12px 20px; --body-text-color-subdued: #374151; --block-info-text-color: #374151;
  --block-label-text-color: #1f2937; --block-title-text-color: #1f2937; --checkbox-label-text-color: #1f2937; }
body.classroom.dark { --body-text-color-subdued: #d1d5db; --block-info-text-color: #d1d5db;
  --block-label-text-color: #f3f4f6; --block-title-text-color: #f3f4f6; --checkbox-label-text-color: #f3f4f6; }
body.classroom .studio-header .prose p { display: none !important; }
body.classroom :is(.row, .form):not(.studio-header) > :is(.block, .form) { min-width: min(320px, 100%) !important; }
body.classroom .gradio-container > .main { max-width: 100% !important; padding-left: 8px !important;
  padding-right: 8px !important; }
body.classroom .prose { font-size: 20px; }
body.classroom .prose :is(code, small, sub, sup), body.classroom .prose [style*="font-size"] {
  font-size: max(18px, 1em) !important; }
body.classroom .prose .katex { font-size: 1.35em; }
body.classroom .studio-main-result :is([data-testid=block-label], [data-testid=block-info], .label-text),
body.classroom .studio-notices, body.classroom .studio-notices .prose { font-size: 24px !important; }
/* Outputs shown whole and crisp (issue 36.8). Result pictures (class studio-pixels) scale with square pixels, so a
   mini model's 64 px picture is sharp. In the 文生图 gallery (studio-batch) a cell is at most 256 px (4x of 64) and
   as many cells fit a row as keep 120 px each: a batch of 8 is two rows of 4 in view, not 4 rows of blown-up,
   blurred squares. The frame strip (studio-strip) keeps 8 frames to a row, each cell allowed under Gradio's 100 px
   minimum (which pushed frames 6-9 out of the box). Captions of studio-captions galleries go under the picture and
   wrap instead of ending in "…" over it (the 属性吻合 score). */
.studio-pixels img { image-rendering: pixelated; }
.studio-batch .grid-container { grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; justify-items: center; }
.studio-batch .thumbnail-item { max-width: 256px; }
.studio-batch .preview img { max-width: 512px; max-height: 512px; margin: auto; }
.studio-strip .grid-container { grid-template-columns: repeat(8, minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; }
.studio-strip .grid-wrap { max-height: 50vh; }
.studio-strip .thumbnail-item { max-width: 256px; }
.studio-captions .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex;
  flex-direction: column; }
.studio-captions .thumbnail-item > img { aspect-ratio: 1; height: auto !important; min-height: 0; }
.studio-captions .caption-label { position: static !important; white-space: normal !important; overflow-wrap: anywhere;
  text-overflow: clip !important; overflow: visible !important; max-width: 100% !important; opacity: 1 !important;
  border: 0 !important; }
"""
# The course's modules in the page's order (the label of each is STRINGS[f"tab.{name}"]). 我的作品 comes last: it
# wires every tab's saving runs to this browser's list.
TABS = [("text", text.build), ("image", image.build), ("speech", speech.build), ("music", music.build),
        ("video", video.build), ("crossmodal", crossmodal.build), ("finetune", finetune.build),
        ("models", models.build), ("mywork", mywork.build)]
CLASSROOM_JS = "(on) => { document.body.classList.toggle('classroom', !!on); return []; }"


def build_demo() -> gr.Blocks:
    ui = UI(settings().lang)
    # delete_cache: Gradio drops its temporary copies after an age (retention.sweep_temp adds a quota).
    with gr.Blocks(title="AIGC Studio · AIGC 创作工坊", delete_cache=retention.delete_cache()) as demo:
        lang = gr.State(ui.lang)
        # Top level (components inside a tab mount only when the tab opens); a fixed secret from the outputs
        # folder, so the id still decrypts after a restart.
        browser_id = gr.BrowserState("", storage_key="aigc_studio_browser", secret=history.secret())
        with gr.Row(equal_height=True, elem_classes="studio-header"):  # one line: title, language, 课堂模式
            ui.md("app.title", scale=1, min_width=320)
            switch = gr.Radio(LANGS, value=ui.lang, label="语言 / Language", container=False, scale=0, min_width=210,
                              elem_classes="studio-lang-names")  # each language named in its own script
            classroom = ui.add(gr.Checkbox, "app.classroom", value=settings().classroom, container=False, scale=0,
                               min_width=320)
        page = Page(lang, demo, browser_id)
        tabs = {}
        with gr.Tabs(elem_classes="studio-tabs"):
            for name, build in TABS:
                with ui.tab(f"tab.{name}") as tabs[name]:
                    build(ui, page)
        models.refresh_while_open(ui, tabs)
        operator.build(ui, lang, demo)  # before the switch: its components are relabelled with the others
        # Labels change in the browser (tabs/ui.py says why); the session's language and what reads the server's
        # state at the switch (local model folders) go through the server.
        switch.change(None, switch, ui.components, js=ui.relabel_js(), api_visibility="private", queue=False)
        switch.change(lambda choice: [choice, *ui.relabel_live(choice)], switch, [lang, *ui.live_components],
                      api_visibility="private", queue=False)
        # Gradio's own words (footer, upload areas, the image editor, pop-up titles) follow this switch, not the
        # browser's locale; a file an upload area does not take gets the studio's message (tabs/gradio_locale.py).
        gradio_locale.install(demo, switch, lang)
        slider_box.install(demo)  # a number typed into a slider's box stays as typed, to be named if refused
        sessions.install(demo)  # a closed page's server-side values are freed
        fresh_notices_on_click(demo)
        classroom.change(None, classroom, None, js=CLASSROOM_JS, api_visibility="private", queue=False)
        demo.load(None, classroom, None, js=CLASSROOM_JS, api_visibility="private", queue=False)
        for fn, inputs, outputs in ui.switch_events:
            switch.change(fn, [switch, *inputs], outputs, api_visibility="private", queue=False)
    runner.schedule_model_events(demo, GPU)  # model events wait in the fair scheduler, not in a Gradio slot
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


def start_backend(s) -> None:
    """Join the Ray cluster before the page opens; unreachable: say so and exit non-zero, or (with
    STUDIO_BACKEND_FALLBACK=local) run the model work in this process."""
    try:
        from studio.cluster import client
    except ImportError as exc:  # requirements-ray.txt is not installed
        log.error("STUDIO_BACKEND=ray needs Ray Serve: .venv/bin/pip install -r requirements-ray.txt -c "
                  "constraints.txt (%s)", exc)
        raise SystemExit(2) from None
    try:
        client.connect(s)
        log.info("model work of %s goes to the Ray cluster (%s)", ", ".join(client.served(s)),
                 s.ray_address or "local head")
    except client.BackendUnreachable as exc:
        if s.backend_fallback != "local":
            log.error("%s. Start the cluster (README: Scaling out), or set STUDIO_BACKEND_FALLBACK=local.", exc)
            logging.shutdown()
            # Not SystemExit: the interpreter's shutdown aborted (SIGABRT) now and then on the ray.init thread
            # still blocked on the dead address (one CI run); nothing else runs yet that would need a clean exit.
            os._exit(2)
        log.warning("%s; STUDIO_BACKEND_FALLBACK=local: model work runs in this process", exc)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = configure(sys.argv[1:] if argv is None else argv)
    reset_manager(ModelManager.from_settings(s))  # the memory budget and ZeroGPU's mode of these settings
    reset_scheduler()  # turns, per-learner limit and queue size of these settings
    imports.warm()  # before any learner can click: the libraries' lazy imports are not thread-safe
    if s.backend == "ray":
        start_backend(s)
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
