"""文生图: prompt, negative prompt, sampler, steps, CFG, seed, size, batch -> images with their parameters."""
import gradio as gr
from PIL import Image

from studio import api, prompts
from studio.infotext import read_png_text
from studio.registry import cards

from .ui import GPU, UI, guarded, notices_md, progress_callback, s


MAX_SIDE = max(c.defaults.get("max_side", 1024) for c in cards("image"))


@guarded
def generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                   batch_count, lang, progress=gr.Progress()):
    result = api.generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height,
                                batch_size, batch_count=batch_count, lang=lang, progress=progress_callback(progress))
    shown = [(str(p), f"seed {s}") for p, s in zip(result.paths, result.seeds)] if result.paths \
        else [(img, f"seed {s}") for img, s in zip(result.images, result.seeds)]
    seeds = ", ".join(str(s) for s in result.seeds)
    return shown, seeds, result.infotexts[0], notices_md(result.notices)


def live_generate(live, prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, used_seed, width, height,
                  lang, progress=gr.Progress()):
    """实时: a knob was released -> the same picture again with the new value (seed -1 keeps the last seed)."""
    if not live:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, _last_seed(seed, used_seed),
                          width, height, 1, 1, lang, progress)


def _last_seed(seed, used_seed):
    """Seed -1 with a run already made: that run's (first) seed, so the result stays comparable."""
    if str(seed).strip() in ("", "-1") and used_seed:
        return int(str(used_seed).split(",")[0])
    return seed


@guarded
def export_code(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, used_seed, width, height, batch_size,
                lang):
    """The script for the current controls; seed -1 shows the seed of the last run, so the code makes that image."""
    return api.export_code(prompt, negative_prompt, model, sampler, steps, cfg_scale, _last_seed(seed, used_seed),
                           width, height, batch_size, lang=lang)


@guarded
def read_png(file, lang):
    """PNG 信息: the parameters stored in a dropped PNG, as text and as fields for 发送到文生图."""
    if file is None:
        return "", {}
    fields = api.read_infotext(file)  # a clear message for a non-image or a PNG without parameters
    return read_png_text(Image.open(file)), fields


def send_to_txt2img(fields, model, prompt, negative, sampler, steps, cfg, seed, width, height):
    """Every control the PNG names is set; the others keep their values."""
    if not fields:
        return model, prompt, negative, sampler, steps, cfg, seed, width, height
    models = {c.key for c in cards("image")} | set(api.local_models("image"))
    known_model = fields["model"] if fields.get("model") in models else model
    pick = lambda key, current: fields.get(key, current)  # noqa: E731
    sampler_value = fields.get("sampler") if fields.get("sampler") in api.image_samplers() else sampler
    return (known_model, pick("prompt", prompt), pick("negative_prompt", negative), sampler_value,
            pick("steps", steps), pick("cfg_scale", cfg), pick("seed", seed), pick("width", width),
            pick("height", height))


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    return d["width"], d["height"], d["steps"], d["cfg_scale"], d["sampler"], d.get("live", False)


def build(ui: UI, lang: gr.State) -> None:
    d = api.model_defaults("mini-shapes")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("image.model", "image", "mini-shapes")
            prompt = ui.add(gr.Textbox, "image.prompt", lines=3, placeholder="a big red circle on the left, blue background")
            negative = ui.add(gr.Textbox, "image.negative", lines=2)
            common_negative = ui.button("image.common_negative", size="sm")
            sampler = ui.add(gr.Dropdown, "image.sampler", choices=api.image_samplers(), value=d["sampler"])
            steps = ui.add(gr.Slider, "image.steps", minimum=1, maximum=150, step=1, value=d["steps"])
            cfg = ui.add(gr.Slider, "image.cfg", minimum=1, maximum=30, step=0.5, value=d["cfg_scale"])
            with gr.Row():
                # The widest range any model allows; each model's own cap is checked by studio.api with a message.
                width = ui.add(gr.Slider, "image.width", minimum=8, maximum=MAX_SIDE, step=8, value=d["width"])
                height = ui.add(gr.Slider, "image.height", minimum=8, maximum=MAX_SIDE, step=8, value=d["height"])
            with gr.Row(equal_height=True):
                seed = ui.add(gr.Number, "image.seed", value=-1, precision=0, scale=3)
                dice = gr.Button("🎲", size="sm", scale=0, min_width=48)
                reuse = gr.Button("♻️", size="sm", scale=0, min_width=48)
            with gr.Row():
                batch = ui.add(gr.Slider, "image.batch_size", minimum=1, maximum=api.MAX_BATCH, step=1, value=1)
                batch_count = ui.add(gr.Slider, "image.batch_count", minimum=1, maximum=api.MAX_BATCH_COUNT, step=1,
                                     value=1)
            with gr.Row(equal_height=True):
                go = ui.button("image.generate", variant="primary", scale=3)
                live = ui.add(gr.Checkbox, "image.live", value=d.get("live", False), scale=1)
                show_code = ui.button("image.show_code", scale=1)
        with gr.Column(scale=5):
            # Progress and errors show on this line only, so a failed run never hides the last images.
            notices = gr.Markdown(min_height=48)
            gallery = ui.add(gr.Gallery, "image.gallery", columns=2, height=420, format="png", object_fit="contain")
            used_seed = ui.add(gr.Textbox, "image.used_seed", interactive=False)
            infotext = ui.add(gr.Textbox, "image.infotext", lines=3, interactive=False)
            code = ui.add(gr.Code, "image.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("image.png_info", ui.lang), open=False),
                            lambda lg: {"label": s("image.png_info", lg)}):
                png = ui.add(gr.File, "image.png_file", file_types=["image"], type="filepath")
                png_text = ui.add(gr.Textbox, "image.png_text", lines=3, interactive=False)
                png_fields = gr.State({})
                send = ui.button("image.send")
    controls = [prompt, negative, model, sampler, steps, cfg, seed, width, height, batch]
    go.click(generate_image, [*controls, batch_count, lang], [gallery, used_seed, infotext, notices],
             api_name="generate_image", concurrency_id=GPU, show_progress_on=[notices])
    show_code.click(export_code, [prompt, negative, model, sampler, steps, cfg, seed, used_seed, width, height, batch,
                                  lang], code, api_name="export_code", concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False)
    common_negative.click(lambda text: ", ".join(p for p in (text.strip(), prompts.common_negative("en")) if p),
                          negative, negative, api_visibility="private", queue=False)
    dice.click(lambda: -1, None, seed, api_visibility="private", queue=False)
    reuse.click(lambda used, current: int(used.split(",")[0]) if used else current, [used_seed, seed], seed,
                api_visibility="private", queue=False)
    png.change(read_png, [png, lang], [png_text, png_fields], api_visibility="private", concurrency_limit=None)
    send.click(send_to_txt2img, [png_fields, model, prompt, negative, sampler, steps, cfg, seed, width, height],
               [model, prompt, negative, sampler, steps, cfg, seed, width, height], api_visibility="private",
               queue=False)
    live_inputs = [live, prompt, negative, model, sampler, steps, cfg, seed, used_seed, width, height, lang]
    for knob in (steps, cfg, width, height):
        knob.release(live_generate, live_inputs, [gallery, used_seed, infotext, notices], api_visibility="private",
                     concurrency_id=GPU, trigger_mode="always_last", show_progress_on=[notices])
    sampler.input(live_generate, live_inputs, [gallery, used_seed, infotext, notices], api_visibility="private",
                  concurrency_id=GPU, trigger_mode="always_last", show_progress_on=[notices])
    model.change(model_defaults, [model, lang], [width, height, steps, cfg, sampler, live], api_visibility="private")
