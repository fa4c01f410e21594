"""文生图: prompt, negative prompt, sampler, steps, CFG, seed, size, batch -> images with their parameters."""
import gradio as gr

from studio import api
from studio.registry import cards

from .ui import GPU, UI, guarded, notices_md, progress_callback, s


MAX_SIDE = max(c.defaults.get("max_side", 1024) for c in cards("image"))


def model_choices(lang: str) -> list[tuple[str, str]]:
    return [(f"{c.title[lang]} · {c.key}", c.key) for c in cards("image")] + \
           [(f"{name} · {s('image.local', lang)}", name) for name in api.local_models("image")]


@guarded
def generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                   lang, progress=gr.Progress()):
    result = api.generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height,
                                batch_size, lang=lang, progress=progress_callback(progress))
    shown = [(str(p), f"seed {s}") for p, s in zip(result.paths, result.seeds)] if result.paths \
        else [(img, f"seed {s}") for img, s in zip(result.images, result.seeds)]
    seeds = ", ".join(str(s) for s in result.seeds)
    return shown, seeds, result.infotexts[0], notices_md(result.notices)


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    return d["width"], d["height"], d["steps"], d["cfg_scale"], d["sampler"]


def build(ui: UI, lang: gr.State) -> None:
    d = api.model_defaults("mini-shapes")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.add(gr.Dropdown, "image.model", choices=model_choices(ui.lang), value="mini-shapes",
                           allow_custom_value=True)
            ui.on_lang(model, lambda lg: {"choices": model_choices(lg)})
            prompt = ui.add(gr.Textbox, "image.prompt", lines=3, placeholder="a big red circle on the left, blue background")
            negative = ui.add(gr.Textbox, "image.negative", lines=2)
            sampler = ui.add(gr.Dropdown, "image.sampler", choices=api.image_samplers(), value=d["sampler"])
            steps = ui.add(gr.Slider, "image.steps", minimum=1, maximum=150, step=1, value=d["steps"])
            cfg = ui.add(gr.Slider, "image.cfg", minimum=1, maximum=30, step=0.5, value=d["cfg_scale"])
            with gr.Row():
                # The widest range any model allows; each model's own cap is checked by studio.api with a message.
                width = ui.add(gr.Slider, "image.width", minimum=8, maximum=MAX_SIDE, step=8, value=d["width"])
                height = ui.add(gr.Slider, "image.height", minimum=8, maximum=MAX_SIDE, step=8, value=d["height"])
            with gr.Row():
                seed = ui.add(gr.Number, "image.seed", value=-1, precision=0)
                batch = ui.add(gr.Slider, "image.batch_size", minimum=1, maximum=api.MAX_BATCH, step=1, value=1)
            go = ui.button("image.generate", variant="primary")
        with gr.Column(scale=5):
            # Progress and errors show on this line only, so a failed run never hides the last images.
            notices = gr.Markdown(min_height=48)
            gallery = ui.add(gr.Gallery, "image.gallery", columns=2, height=420, format="png", object_fit="contain")
            used_seed = ui.add(gr.Textbox, "image.used_seed", interactive=False)
            infotext = ui.add(gr.Textbox, "image.infotext", lines=3, interactive=False)
    go.click(generate_image, [prompt, negative, model, sampler, steps, cfg, seed, width, height, batch, lang],
             [gallery, used_seed, infotext, notices], api_name="generate_image", concurrency_id=GPU,
             show_progress_on=[notices])
    model.change(model_defaults, [model, lang], [width, height, steps, cfg, sampler], api_visibility="private")
