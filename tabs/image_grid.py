"""文生图 · 参数网格 (X/Y plot): two axes over the tab's current settings, one labelled grid image."""
import gradio as gr

from studio import api
from studio.api.web import GRID_AXES

from . import mywork
from .runner import Stops, run, work
from .ui import GPU, UI, guarded, notices_md, s


stops = Stops("grid")

# The course's comparisons, one click away: (x_type, x_values, y_type, y_values)
RECIPES = {
    "cfg": ("cfg_scale", "3, 9", "none", ""),
    "samplers": ("sampler", "Euler a, DPM++ 2M Karras, DDIM, UniPC", "none", ""),
    "size_steps": ("steps", "10, 20, 30", "size", "64x64, 96x64"),
}


def axis_choices(lang: str) -> list[tuple[str, str]]:
    return [(s(f"grid.axis.{a}", lang), a) for a in GRID_AXES]


@guarded
async def xy_plot(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, x_type, x_values,
                  y_type, y_values, lang, schedule_type="Automatic", request: gr.Request = None,
                  progress=gr.Progress()):
    cells = [v for v in str(x_values).split(",") if v.strip()], [v for v in str(y_values).split(",") if v.strip()]
    job = stops.start(request, lang=lang, model=model, work=work(steps, cells[0], cells[1] if y_type != "none" else 1),
                      turn_work=work(steps), size=f"{width}x{height}", by_unit=True)  # a turn per cell
    r = await run(job, lambda stop, on_progress: api.xy_plot(
        prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, x_type, x_values, y_type,
        y_values, lang=lang, progress=on_progress, stop=stop, schedule_type=schedule_type), progress)
    axes = "; ".join(f"{name} = {kind}: {values}" for name, kind, values in (("X", x_type, x_values),
                                                                          ("Y", y_type, y_values)) if kind != "none")
    mywork.stash(request, [(r.path, axes)], kind="image.lora" if "lora" in (x_type, y_type) else "image.grid",
                 prompt=prompt, seed=r.seed)
    return (str(r.path) if r.path else r.image), notices_md(r.notices)


def build(ui: UI, lang: gr.State, c: dict) -> None:
    with ui.on_lang(gr.Accordion(s("grid.title", ui.lang), open=False), lambda lg: {"label": s("grid.title", lg)}):
        with gr.Row():
            recipe = {k: ui.button(f"grid.recipe.{k}", size="sm") for k in RECIPES}
        with gr.Row():
            x_type = ui.add(gr.Dropdown, "grid.x_type", choices=axis_choices(ui.lang), value="cfg_scale", scale=1)
            x_values = ui.add(gr.Textbox, "grid.x_values", value="3, 7, 12", scale=2)
        with gr.Row():
            y_type = ui.add(gr.Dropdown, "grid.y_type", choices=axis_choices(ui.lang), value="none", scale=1)
            y_values = ui.add(gr.Textbox, "grid.y_values", value="", scale=2)
        for box in (x_type, y_type):
            ui.on_lang(box, lambda lg: {"choices": axis_choices(lg)})
        go = ui.button("grid.go", variant="primary")
        notes = gr.Markdown()
        image = ui.add(gr.Image, "grid.image", type="filepath", format="png", interactive=False)
    for key, button in recipe.items():
        button.click(lambda k=key: RECIPES[k], None, [x_type, x_values, y_type, y_values], api_visibility="private",
                     queue=False)
    inputs = [c[k] for k in ("prompt", "negative", "model", "sampler", "steps", "cfg", "seed", "width", "height")]
    ui.on_saved(go.click(xy_plot, [*inputs, x_type, x_values, y_type, y_values, lang, c["schedule_type"]],
                         [image, notes], api_name="xy_plot", concurrency_id=GPU, show_progress_on=[notes]))
