"""模型微调 (LoRA): captioned images -> a LoRA trained in the background with a live loss plot; 原理 calculator."""
import gradio as gr
import pandas as pd

from studio import api
from studio.api.web import COURSE_TARGETS, DEMO_LEARNING_RATE, DEMO_STEPS, settings, smoothed
from studio.lora.knobs import KNOBS

from . import sharing
from .runner import Stops, stream, work
from .ui import GPU, UI, Page, guarded, notices_md, plot_in, s, upload_limit


stops = Stops("finetune")
PLOT_EVERY = 2  # steps between loss-plot updates


def _captions(text: str, count: int):
    """One caption per line; a single line is shared by every image (e.g. with a trigger word)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else lines


def dataset(files):
    """The uploaded images as a grid (what will be trained on)."""
    return [f if isinstance(f, str) else f.name for f in files or []]


@guarded
async def train_lora(files, captions, model, name, rank, alpha, learning_rate, steps, batch_size, resolution, seed,
               targets=COURSE_TARGETS, lang="zh", request: gr.Request = None, progress=gr.Progress()):
    """Trains in a worker thread; the loss plot grows as it goes; 停止 keeps what was learnt."""
    paths = dataset(files)

    losses: list[float] = []

    def call(preview, stop, on_progress):
        def step(done, total, loss):
            losses.append(loss)
            on_progress(done / total, s("finetune.progress", lang, done=done, total=total, loss=loss))
            if done % PLOT_EVERY == 0 or done == total:
                preview(done, loss)
        return api.train_lora(paths, _captions(captions, len(paths)), model, name=name, rank=rank, alpha=alpha,
                              learning_rate=learning_rate, steps=steps, batch_size=batch_size,
                              resolution=resolution or None, seed=seed, targets=targets, progress=step, stop=stop,
                              lang=lang)

    async for kind, value in stream(call, stops.start(request, lang=lang, model=model, work=work(steps)), progress):
        if kind == "preview":
            yield loss_curve(list(losses), lang), gr.skip()
        else:
            done = s("finetune.done", lang, name=value.name, steps=value.steps, seconds=value.seconds)
            yield loss_curve(value.losses, lang), notices_md([done, *value.notices])


def loss_curve(losses: list[float], lang: str) -> pd.DataFrame:
    """Each step's loss (pale) and the smoothed curve over it, for the line plot."""
    steps = list(range(1, len(losses) + 1))
    raw, smooth = s("finetune.loss_series", lang).split("|")
    return pd.DataFrame({"step": steps * 2, "loss": [*losses, *smoothed(losses)],
                         "series": [raw] * len(losses) + [smooth] * len(losses)})


def _loss_titles(lang: str) -> dict:
    step, loss, series = s("finetune.loss_axes", lang).split("|")
    return {"x_title": step, "y_title": loss, "color_title": series}


def inkwash_demo():
    """Fill the dataset with the 水墨 demo (files in the outputs folder, so the upload box can hold them)."""
    from pathlib import Path

    folder = Path(settings().output_dir).expanduser().resolve() / "lora-datasets" / "inkwash"
    folder.mkdir(parents=True, exist_ok=True)
    images, captions = api.inkwash_dataset(12)
    paths = []
    for i, image in enumerate(images):
        image.save(folder / f"ink-{i:02d}.png")
        paths.append(str(folder / f"ink-{i:02d}.png"))
    return paths, paths, "\n".join(captions), "inkwash", "mini-shapes", DEMO_STEPS, DEMO_LEARNING_RATE


def stop_run(request: gr.Request):
    stops.stop(request)


@guarded
def parameters(model, rank, lang="zh"):
    rows = api.lora_parameters(model, rank)
    cols = s("finetune.calc_cols", lang).split("|")
    return pd.DataFrame([[f"{r['in']} x {r['out']}", r["layers"], r["full"], r["lora"], f"{r['share']:.1%}"]
                         for r in rows], columns=cols)


def switch_views(lang: str, curve, table):
    """The loss curve's legend and the 原理 table's headers as shown, in the new language (an empty table too)."""
    cols = s("finetune.calc_cols", lang).split("|")
    rows = table.values.tolist() if table is not None and len(table.columns) == len(cols) else []
    rows = [r for r in rows if any(str(v).strip() for v in r)]  # Gradio's empty table is one blank row
    return (plot_in(lang, curve, "series", lambda lg: s("finetune.loss_series", lg).split("|")),
            pd.DataFrame(rows, columns=cols))


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("finetune.model", "image", "mini-shapes")
            with gr.Row():  # at the top, beside the dataset it trains on (issue 36)
                go = ui.button("finetune.train", variant="primary", scale=2)
                stop = ui.button("finetune.stop", variant="stop", scale=1)
            demo = ui.button("finetune.demo", size="sm")
            files = ui.add(gr.File, "finetune.images", fill=upload_limit(), file_count="multiple",
                           file_types=["image"])
            grid = ui.add(gr.Gallery, "finetune.grid", columns=6, height=160, object_fit="contain")
            captions = ui.add(gr.Textbox, "finetune.captions", lines=3, value="sks style")
            name = ui.add(gr.Textbox, "finetune.name", value="my-lora")
            with gr.Row():
                rank = ui.knob("finetune.rank", KNOBS["rank"], value=8)
                alpha = ui.knob("finetune.alpha", KNOBS["alpha"], value=8)
            targets = ui.add(gr.CheckboxGroup, "finetune.targets", choices=list(COURSE_TARGETS),
                             value=list(COURSE_TARGETS))
            with gr.Row():
                lr = ui.add(gr.Number, "finetune.lr", value=1e-4)
                steps = ui.knob("finetune.steps", KNOBS["steps"], value=100)
            with gr.Row():
                batch = ui.knob("finetune.batch", KNOBS["batch_size"], value=1)
                resolution = ui.add(gr.Number, "finetune.resolution", value=0, precision=0)
                seed = ui.add(gr.Number, "finetune.seed", value=0, precision=0)
        with gr.Column(scale=5, elem_classes="studio-result"):  # stays in view while the controls scroll
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            loss = ui.add(gr.LinePlot, "finetune.loss", x="step", y="loss", color="series", height=260,
                          elem_classes="studio-main-result",
                          color_map={name: colour for lg in ("zh", "en") for name, colour in
                                     zip(s("finetune.loss_series", lg).split("|"), ("#cbd5e1", "#f97316"))},
                          **_loss_titles(ui.lang))
            ui.on_lang(loss, _loss_titles)
            ui.md("finetune.use")
            with ui.on_lang(gr.Accordion(s("finetune.explain", ui.lang), open=True),
                            lambda lg: {"label": s("finetune.explain", lg)}):
                ui.md("finetune.explain_intro")
                calc = ui.add(gr.Dataframe, "finetune.calc", interactive=False,
                              headers=s("finetune.calc_cols", ui.lang).split("|"))
                calc_go = ui.button("finetune.calc_go")
            ui.on_switch(switch_views, [loss, calc], [loss, calc])
            sharing.build(ui, lang)  # the LoRAs this learner may use; the operator shares one with the class
    files.change(dataset, files, grid, api_visibility="private", queue=False)
    demo.click(inkwash_demo, None, [files, grid, captions, name, model, steps, lr], api_visibility="private")
    go.click(train_lora, [files, captions, model, name, rank, alpha, lr, steps, batch, resolution, seed, targets,
                          lang],
             [loss, notices], api_name="train_lora", concurrency_id=GPU, show_progress_on=[notices])
    stop.click(stop_run, None, None, api_name="stop_training", queue=False)
    calc_go.click(parameters, [model, rank, lang], calc, api_name="lora_parameters", concurrency_id=GPU)
