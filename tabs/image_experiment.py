"""文生图 · 优化实验 A vs B: FP32 as loaded vs FP16 + SDPA / xformers + VAE slicing (+ CPU offload), measured."""
import gradio as gr
import pandas as pd

from studio import api

from .runner import Stops, run, work
from .ui import GPU, UI, guarded, notices_md, s


stops = Stops("experiment")


@guarded
async def experiment(prompt, model, steps, seed, width, height, offload, lang, request: gr.Request = None,
                     progress=gr.Progress()):
    progress(0, desc=s("experiment.running", lang))
    job = stops.start(request, lang=lang, model=model, work=work(steps, 4), size=f"{width}x{height}")
    r = await run(job, lambda stop, _progress: api.optimisation_experiment(
        prompt, model, steps, seed, width, height, offload, lang=lang, stop=stop))
    table = pd.DataFrame(r["rows"]).rename(columns=lambda c: s(f"experiment.col.{c}", lang))
    images = [(img, f"{row['arm']} · {row['dtype']} · {row['attention']}") for img, row in zip(r["images"], r["rows"])]
    return table, images, notices_md(r["notices"] + [s("experiment.done", lang, seed=r["seed"], device=r["device"])])


def build(ui: UI, lang: gr.State, c: dict) -> None:
    with ui.on_lang(gr.Accordion(s("experiment.title", ui.lang), open=False),
                    lambda lg: {"label": s("experiment.title", lg)}):
        ui.md("experiment.intro")
        with gr.Row():
            offload = ui.add(gr.Checkbox, "experiment.offload", value=False)
            go = ui.button("experiment.go", variant="primary")
        notes = gr.Markdown()
        table = gr.Dataframe(interactive=False)
        images = gr.Gallery(columns=4, height="auto", object_fit="contain", interactive=False, show_label=False)
    inputs = [c[k] for k in ("prompt", "model", "steps", "seed", "width", "height")]
    go.click(experiment, [*inputs, offload, lang], [table, images, notes], api_name="optimisation_experiment",
             concurrency_id=GPU, show_progress_on=[notes])
