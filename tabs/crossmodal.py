"""跨模态创作: the topology project (text -> pictures -> page), the series and the storyboard video."""
import gradio as gr
import pandas as pd
from PIL import Image

from studio import api
from studio.api.web import article_fields, credit, iframe, image_defaults, series_columns, series_parts, shot_columns
from studio.crossmodal.knobs import KNOBS

from . import mywork
from .runner import Stops, run, work
from .ui import GPU, UI, Page, guarded, notices_md, s


stops = Stops("crossmodal")
FIELDS = [f["name"] for f in article_fields("zh")]


def _split(text: str) -> dict:
    """The article box (title line, then paragraphs) as a compose_page part."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return {"title": lines[0] if lines else "", "paragraphs": lines[1:]}


@guarded
def write_article(model, topic, audience, question, analogy, key_idea, steps, summary, length, seed, lang="zh"):
    values = dict(zip(FIELDS, (topic, audience, question, analogy, key_idea, steps, summary, length)))
    result = api.write_article(values, model, seed=seed, lang=lang)
    return result.text, result.prompt, credit(result, lang), notices_md(result.notices)


@guarded
async def story_images(subject, details, style, negative_prompt, model, seed, count, lang="zh",
                       request: gr.Request = None, progress=gr.Progress()):
    job = stops.start(request, lang=lang, model=model, work=work(count, 20))
    pictures = await run(job, lambda stop, on_progress: api.story_images(
        subject, details, style, negative_prompt, model, seed, count, lang=lang, progress=on_progress, stop=stop),
        progress)
    gallery = [(p.image, f"{p.prompt} · {p.alignment.label(lang)}") for p in pictures]
    return gallery, [p.infotext for p in pictures]


def _pictures(gallery) -> tuple[list, list[str]]:
    """Gallery items back as images and their prompts (the caption before the score)."""
    images, captions = [], []
    for item in gallery or []:
        path, caption = item if isinstance(item, (list, tuple)) else (item, "")
        path = path.get("path") if isinstance(path, dict) else getattr(path, "path", path)
        images.append(Image.open(path).convert("RGB"))
        captions.append((caption or "").rsplit(" · ", 1)[0])
    return images, captions


@guarded
def compose_page(article, gallery, text_credit="", image_credits=(), lang="zh", request: gr.Request = None):
    """The page from the article box and the gallery; the footer names what made them (kept from steps 1-2)."""
    images, captions = _pictures(gallery)
    part = {**_split(article), "images": images, "captions": captions}
    page = api.compose_page([part], credits=[c for c in (text_credit, *(image_credits or [])) if c], lang=lang)
    mywork.stash(request, [(page.zip_path, "")], kind="crossmodal.page", prompt=part.get("title", ""))
    return _iframe(page.preview_html), str(page.zip_path) if page.zip_path else None, notices_md(page.notices)


def _iframe(page_html: str) -> str:
    return iframe(page_html)


@guarded
async def write_series(topic, parts, text_model, image_model, style, negative_prompt, seed, seed_step, lang="zh",
                       request: gr.Request = None, progress=gr.Progress()):
    rows = parts.values.tolist() if isinstance(parts, pd.DataFrame) else parts
    job = stops.start(request, lang=lang, model=image_model, work=work(parts, 20))
    result = await run(job, lambda stop, on_progress: api.write_series(
        topic, rows, text_model, image_model, style, negative_prompt, seed, seed_step, lang=lang,
        progress=on_progress, stop=stop), progress)
    gallery = [(p.image, f"{a.title} · {p.alignment.label(lang)}") for a, ps in zip(result.articles, result.images)
               for p in ps]
    zip_path = str(result.page.zip_path) if result.page.zip_path else None
    mywork.stash(request, [(zip_path, "")], kind="crossmodal.series", prompt=topic)
    return _iframe(result.page.preview_html), zip_path, gallery, notices_md(result.notices)


@guarded
def make_storyboard(article, topic, shots, text_model, image_model, subject, seed, lang="zh"):
    result = api.make_storyboard(article, topic, shots, text_model, image_model, subject, seed, lang=lang)
    table = pd.DataFrame([shot.row() for shot in result.shots], columns=shot_columns(lang))
    return table, notices_md(result.notices)


@guarded
async def storyboard_video(table, image_model, speech_model, style, negative_prompt, seed, lang="zh",
                           request: gr.Request = None, progress=gr.Progress()):
    rows = table.values.tolist() if isinstance(table, pd.DataFrame) else table
    job = stops.start(request, lang=lang, model=image_model, work=work(table, 20))
    result = await run(job, lambda stop, on_progress: api.storyboard_video(
        rows, image_model, speech_model, style, negative_prompt, seed, lang=lang, progress=on_progress, stop=stop),
        progress)
    seconds = result.times[-1][1]
    done = s("cm.video_done", lang, shots=len(result.shots), seconds=seconds)
    mywork.stash(request, [(result.path, "")], kind="crossmodal.storyboard",
                 prompt=" / ".join(shot.visuals for shot in result.shots))
    return (gr.Video(value=str(result.path), subtitles=str(result.subtitles)),
            [(im, f"{shot.number}. {shot.visuals}") for im, shot in zip(result.images, result.shots)],
            [str(result.path), str(result.subtitles)], notices_md([done, *result.notices]))


def stop_run(request: gr.Request):
    stops.stop(request)


def image_fields(model, lang="zh"):
    """Step 2's defaults and the series' picture subjects for the chosen image model's family."""
    d = image_defaults(model, lang)
    parts = pd.DataFrame(series_parts(model, lang), columns=series_columns(lang))
    return d["subject"], d["details"], d["style"], d["negative"], f"*{d['note']}*", parts


def relabel_table(new_lang, table):
    """The shot table's headers in the new language; its rows stay as the learner left them."""
    table = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if table.shape[1] != len(shot_columns(new_lang)):
        return gr.skip()
    return table.set_axis(shot_columns(new_lang), axis=1)


def switch_defaults(new_lang, image_model, *values):
    """On a language switch, fields still holding the other language's defaults take the new language's; what
    the learner typed stays."""
    old = "en" if new_lang == "zh" else "zh"
    olds, news = _defaults(image_model, old), _defaults(image_model, new_lang)
    out = []
    for value, before, after in zip(values, olds, news):
        if isinstance(value, pd.DataFrame):
            same = value.astype(str).values.tolist() == before.astype(str).values.tolist()
        else:
            same = value == before
        out.append(after if same else gr.skip())
    return out


def _defaults(image_model, lang) -> list:
    """Default values of the language-dependent fields, in the order switch_defaults gets them."""
    d = image_defaults(image_model, lang)
    return [*(f["default"] for f in article_fields(lang)), d["subject"], d["details"], d["style"], d["negative"],
            f"*{d['note']}*", article_fields(lang)[0]["default"],
            pd.DataFrame(series_parts(image_model, lang), columns=series_columns(lang))]


def _accordion(ui: UI, key: str, open_: bool = True) -> gr.Accordion:
    return ui.on_lang(gr.Accordion(s(key, ui.lang), open=open_), lambda lg: {"label": s(key, lg)})


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    d = image_defaults("mini-shapes", ui.lang)
    with gr.Row():
        text_model = ui.model_picker("cm.text_model", "text", "mini-poem")
        image_model = ui.model_picker("cm.image_model", "image", "mini-shapes")
        seed = ui.add(gr.Number, "cm.seed", value=42, precision=0, minimum=0)
    with gr.Tabs():
        with ui.tab("cm.project"), gr.Row(equal_height=False):
            with gr.Column(scale=5):  # steps 1 and 2, the one-click run first (issue 36)
                with gr.Row():
                    run_all = ui.button("cm.all", variant="primary", scale=2)
                    compose = ui.button("cm.compose", scale=1)
                ui.md("cm.intro")
                with _accordion(ui, "cm.step1"):
                    fields = []
                    with gr.Row():
                        for f in article_fields(ui.lang):
                            box = gr.Textbox(value=f["default"], label=f["label"], lines=f["lines"],
                                             scale=2 if f["lines"] > 1 else 1, min_width=200)
                            fields.append(ui.on_lang(box, lambda lg, n=f["name"]: {
                                "label": next(x["label"] for x in article_fields(lg) if x["name"] == n)}))
                    write = ui.button("cm.write", variant="primary")
                    article = ui.add(gr.Textbox, "cm.article", lines=12)
                    text_notices = gr.Markdown()
                    with _accordion(ui, "cm.sent_prompt", open_=False):
                        sent = ui.add(gr.Textbox, "cm.sent_prompt", show_label=False, lines=8, buttons=["copy"])
                with _accordion(ui, "cm.step2"):
                    note = gr.Markdown(f"*{d['note']}*")
                    with gr.Row():
                        subject = ui.add(gr.Textbox, "cm.subject", value=d["subject"], scale=3)
                        details = ui.add(gr.Textbox, "cm.details", value=d["details"], scale=2)
                    with gr.Row():
                        style = ui.add(gr.Textbox, "cm.style", value=d["style"], scale=3)
                        negative = ui.add(gr.Textbox, "cm.negative", value=d["negative"], scale=2)
                        count = ui.knob("cm.count", KNOBS["count"], value=2, scale=1)
                    draw = ui.button("cm.draw", variant="primary")
                    gallery = ui.add(gr.Gallery, "cm.gallery", columns=4, fit_columns=False, height=320,
                                     object_fit="contain", format="png",
                                     elem_classes=["studio-pixels", "studio-captions"])  # the score not cut
            with gr.Column(scale=5, elem_classes="studio-result"):  # step 3's page stays in view while steps scroll
                text_credit, image_credits = gr.State(""), gr.State([])
                page_notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
                preview = ui.add(gr.HTML, "cm.preview", show_label=True, container=True, min_height=200,
                                 elem_classes="studio-main-result")
                page_zip = ui.add(gr.File, "cm.zip")
        with ui.tab("cm.series"):
            with gr.Row():
                topic = ui.add(gr.Textbox, "cm.topic", value=article_fields(ui.lang)[0]["default"], scale=2)
                seed_step = ui.knob("cm.seed_step", KNOBS["seed_step"], value=1, scale=1)
            parts = ui.add(gr.Dataframe, "cm.parts", interactive=True, wrap=True,
                           column_widths=["14%", "22%", "40%", "24%"],
                           value=pd.DataFrame(series_parts("mini-shapes", ui.lang), columns=series_columns(ui.lang)))
            make_series = ui.button("cm.make_series", variant="primary")
            series_notices = gr.Markdown()
            series_gallery = ui.add(gr.Gallery, "cm.gallery", columns=3, height=220, object_fit="contain",
                                    elem_classes=["studio-pixels", "studio-captions"])
            series_zip = ui.add(gr.File, "cm.zip")
            series_preview = gr.HTML()
        with ui.tab("cm.storyboard"):
            sb_article = ui.add(gr.Textbox, "cm.sb_article", lines=6)
            with gr.Row():
                use_article = ui.button("cm.use_article", size="sm")
                shots = ui.knob("cm.shots", KNOBS["shots"], value=5)
                make_table = ui.button("cm.make_table", variant="primary")
            table = ui.add(gr.Dataframe, "cm.table", interactive=True, wrap=True,
                           column_widths=["8%", "27%", "45%", "20%"],
                           value=pd.DataFrame(columns=shot_columns(ui.lang)))
            table_notices = gr.Markdown()
            with gr.Row():
                speech_model = ui.model_picker("cm.speech_model", "speech", "espeak")
                make_video = ui.button("cm.make_video", variant="primary")
                stop = ui.button("cm.stop", variant="stop")
            video_notices = gr.Markdown()
            with gr.Row():
                video = ui.add(gr.Video, "cm.video", height=360)
                shot_gallery = ui.add(gr.Gallery, "cm.shot_images", columns=4, height=360, object_fit="contain",
                                      elem_classes=["studio-pixels", "studio-captions"])
            files = ui.add(gr.File, "cm.files", file_count="multiple")
    with _accordion(ui, "cm.explain", open_=False):
        ui.md("cm.explain_text")

    swapped = [*fields, subject, details, style, negative, note, topic, parts]
    ui.on_switch(switch_defaults, [image_model, *swapped], swapped)
    ui.on_switch(relabel_table, [table], [table])
    image_model.change(image_fields, [image_model, lang], [subject, details, style, negative, note, parts],
                       api_visibility="private", queue=False)
    step1 = dict(fn=write_article, inputs=[text_model, *fields, seed, lang],
                 outputs=[article, sent, text_credit, text_notices], concurrency_id=GPU)
    step2 = dict(fn=story_images, inputs=[subject, details, style, negative, image_model, seed, count, lang],
                 outputs=[gallery, image_credits], concurrency_id=GPU)
    step3 = dict(fn=compose_page, inputs=[article, gallery, text_credit, image_credits, lang],
                 outputs=[preview, page_zip, page_notices])
    write.click(**step1, api_name="write_article")
    draw.click(**step2, api_name="story_images")
    ui.on_saved(compose.click(**step3, api_name="compose_page"))
    ui.on_saved(run_all.click(**step1, api_visibility="private", show_progress_on=[page_notices])  # in view
                .success(**step2, api_visibility="private", show_progress_on=[page_notices])
                .success(**step3, api_visibility="private"))
    ui.on_saved(make_series.click(write_series, [topic, parts, text_model, image_model, style, negative, seed,
                                                 seed_step, lang],
                                  [series_preview, series_zip, series_gallery, series_notices],
                                  api_name="write_series", concurrency_id=GPU))
    use_article.click(lambda text: text, article, sb_article, api_visibility="private", queue=False)
    make_table.click(make_storyboard, [sb_article, fields[0], shots, text_model, image_model, subject, seed, lang],
                     [table, table_notices], api_name="make_storyboard", concurrency_id=GPU)
    ui.on_saved(make_video.click(storyboard_video, [table, image_model, speech_model, style, negative, seed, lang],
                                 [video, shot_gallery, files, video_notices], api_name="storyboard_video",
                                 concurrency_id=GPU, show_progress_on=[video_notices]))
    stop.click(stop_run, None, None, api_name="stop_storyboard", queue=False)
