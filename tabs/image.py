"""文生图: prompt, negative prompt, sampler, steps, CFG, seed, size, batch -> images with their parameters."""

import gradio as gr
from PIL import Image, ImageChops

from studio import api
from studio.api import StudioError
from studio.api.web import (
    available_loras,
    common_negative,
    files,
    hires_fix,
    read_image_text,
    settings,
    unapplied_fields,
)
from studio.core.registry import cards
from studio.image.knobs import KNOBS

from . import image_control, image_experiment, image_explain, image_grid, image_live, image_prompt, mini_limits, mywork
from .runner import Stops, queued, run, stream, work
from .ui import GPU, UI, Page, guarded, notices_md, s, upload_limit


MODES = ("txt2img", "img2img", "inpaint")
stops = Stops("image")


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(s(f"image.mode.{m}", lang), m) for m in MODES]


def source_and_mask(mode: str, editor) -> tuple[Image.Image | None, Image.Image | None]:
    """The editor's background (image to image / inpainting) and, for inpainting, the painted layers as a mask."""
    if mode == "txt2img":
        return None, None
    background = (editor or {}).get("background")
    if background is None:
        raise StudioError("mask_needs_image" if mode == "inpaint" else "img2img_needs_image")
    if mode == "img2img":
        return background, None
    alphas = [layer.convert("RGBA").getchannel("A") for layer in (editor.get("layers") or []) if layer is not None]
    if not alphas:
        raise StudioError("empty_mask")
    painted = alphas[0]
    for alpha in alphas[1:]:
        painted = ImageChops.lighter(painted, alpha)
    return background, painted


@guarded
async def generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                   batch_count, mode="txt2img", init_image=None, denoising_strength=0.75, hires_scale=1,
                   hires_upscaler="Latent", hires_steps=0, hires_strength=0.5, loras=None, lora_weight=0.8,
                   lang="zh", schedule_type="Automatic", use_old_scheduling=False, control_1_on=False,
                   control_1_kind="scribble", control_1_image=None,
                   control_1_preprocess=True, control_1_weight=1.0, control_1_start=0.0, control_1_end=1.0,
                   control_1_model="", control_1_low=100, control_1_high=200, control_2_on=False,
                   control_2_kind="scribble", control_2_image=None, control_2_preprocess=True, control_2_weight=1.0,
                   control_2_start=0.0, control_2_end=1.0, control_2_model="", control_2_low=100, control_2_high=200,
                   guess_mode=False,
                   request: gr.Request = None, progress=gr.Progress()):
    """Streams previews into the gallery every few steps; the stop button ends this browser's run only. The
    control_* values are the ControlNet units' (tabs/image_control.py), after every earlier input."""
    job_args = _job_args(locals())
    ask = image_live.asked(request, locals())  # a live redraw begun before this click shows nothing after it

    def call(preview, stop, on_progress):
        return api.generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed,
                                  batch_size=batch_size, batch_count=batch_count, progress=on_progress,
                                  preview=preview, preview_every=settings().preview_every, stop=stop, **job_args)

    job = stops.start(request, lang=lang, model=model, size=f"{width}x{height}" if width else "",
                      work=work(steps, batch_size, batch_count), turn_work=work(steps, batch_size),
                      by_unit=True)
    try:
        async for kind, value in stream(call, job, progress):
            if kind == "preview":
                images, step, total = value
                caption = s("image.preview", lang, step=step, total=total)
                yield [(preview_file(img), caption) for img in images], gr.skip(), gr.skip(), gr.skip()
            else:
                mywork.stash(request, [(str(p), "", prompt, sd) for p, sd in zip(value.paths, value.seeds)],
                             kind="image")
                yield _shown(value)
    except BaseException:
        image_live.failed(request, ask)
        raise


def preview_file(image: Image.Image) -> str:
    """A live preview as a JPEG in Gradio's temporary folder: the gallery would store a PNG (a half-denoised picture
    is noise, which PNG packs badly: about 90 KB against 15 KB at 256 px). delete_cache and the temp quota clean it."""
    from gradio import processing_utils
    from gradio.utils import get_upload_folder
    return processing_utils.save_pil_to_cache(image.convert("RGB"), get_upload_folder(), name="preview",
                                              format="jpeg")


def _shown(result):
    """The run's outputs; a run stopped before its first picture (no images) leaves the gallery as it is: the last
    preview stays in view, beside the notice that it was stopped (as A1111 does), not a blank."""
    shown = [(str(p), f"seed {s}") for p, s in zip(result.paths, result.seeds)] if result.paths \
        else [(img, f"seed {s}") for img, s in zip(result.images, result.seeds)] if result.images else gr.skip()
    seeds = ", ".join(str(s) for s in result.seeds)
    return shown, seeds, result.infotexts[0] if result.infotexts else "", notices_md(result.notices)


def _loras(names, weight) -> dict:
    """The chosen LoRAs, all at the one weight the slider sets."""
    return {name: weight for name in names or []}


def lora_choices():
    """The LoRAs this learner may use: built-in, shared and their own (the operator: all; studio.core.files)."""
    return gr.update(choices=list(available_loras()))


def stop_run(request: gr.Request):
    stops.stop(request)


def _job_args(values: dict) -> dict:
    """api.generate_image's keyword arguments from a handler's page values beyond the first seven (generate, 查看代码
    and 实时 read the same page the same way)."""
    mode = values["mode"] or "txt2img"
    init, mask = source_and_mask(mode, values["init_image"])
    keep_size = init is not None and mode == "img2img"  # image to image keeps the source's size (a multiple of 8)
    return dict(width=None if keep_size else values["width"], height=None if keep_size else values["height"],
                init_image=init, mask=mask, denoising_strength=values["denoising_strength"],
                hires_scale=values["hires_scale"], hires_upscaler=values["hires_upscaler"],
                hires_steps=values["hires_steps"] or None, hires_strength=values["hires_strength"],
                loras=_loras(values["loras"], values["lora_weight"]), lang=values["lang"],
                schedule_type=values["schedule_type"], use_old_scheduling=values["use_old_scheduling"],
                controls=image_control.units(_unit_values(values)), guess_mode=values["guess_mode"])


async def live_generate(live, prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, used_seed, width,
                        height, mode="txt2img", hires_scale=1, hires_upscaler="Latent", hires_steps=0,
                        hires_strength=0.5, loras=None, lora_weight=0.8, lang="zh", schedule_type="Automatic",
                        use_old_scheduling=False, control_1_on=False, control_2_on=False,
                        request: gr.Request = None):
    """实时: a knob was released -> the same picture again with the new value (seed -1 keeps the last seed), with the
    page's hires fix and LoRAs. Its inputs hold no picture: a live event that carried the editors' images made the
    browser upload them at every release, and such a late event could land after 生成's result and replace it. So
    with a source picture or a ControlNet unit in play it says to press 生成 instead of redrawing without them. It
    never replaces what a later request of the page drew, nor redraws what the page just asked for (image_live)."""
    if not live:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    if (mode or "txt2img") != "txt2img" or control_1_on or control_2_on:
        return gr.skip(), gr.skip(), gr.skip(), notices_md([s("image.live_needs_generate", lang)])
    ask = image_live.ask_live(request, locals())  # at the release, before the redraw waits in line
    if ask is None:  # the page's latest request asked for the same
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        result = await run(queued(request, "image", lang), lambda _stop, _progress: _live(
            prompt, negative_prompt, model, sampler, steps, cfg_scale, _last_seed(seed, used_seed), width, height,
            hires_scale, hires_upscaler, hires_steps, hires_strength, loras, lora_weight, lang, schedule_type,
            use_old_scheduling))
    except BaseException:
        image_live.failed(request, ask)
        raise
    return _shown(result) if image_live.latest(request, ask) else (gr.skip(),) * 4


@guarded
def _live(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, hires_scale, hires_upscaler,
          hires_steps, hires_strength, loras, lora_weight, lang, schedule_type, use_old_scheduling):
    return api.generate_image(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height,
                              hires_scale=hires_scale, hires_upscaler=hires_upscaler, hires_steps=hires_steps or None,
                              hires_strength=hires_strength, loras=_loras(loras, lora_weight), lang=lang,
                              schedule_type=schedule_type, use_old_scheduling=use_old_scheduling)


def token_count(prompt, model, lang):
    """The prompt's CLIP token count under the box (nothing for models whose tokenizer is not on disk yet)."""
    try:
        counts = api.count_tokens(prompt, model)
    except StudioError:
        return ""
    return s("image.tokens", lang, **counts) if counts else ""


def send_to_img2img(gallery, selected):
    """The chosen result becomes the source of image to image."""
    if not gallery:
        return gr.skip(), gr.skip()
    item = gallery[min(selected or 0, len(gallery) - 1)]
    path = item[0] if isinstance(item, (list, tuple)) else item
    return {"background": path, "layers": [], "composite": path}, "img2img"


def _last_seed(seed, used_seed):
    """Seed -1 with a run already made: that run's (first) seed, so the result stays comparable."""
    if str(seed).strip() in ("", "-1") and used_seed:
        first = str(used_seed).split(",")[0].strip()
        if first.isdigit():  # anything else (typed through the API) is not a run's seed: -1 stays random
            return int(first)
    return seed


@guarded
def export_code(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, used_seed, width, height, batch_size,
                mode="txt2img", init_image=None, denoising_strength=0.75, hires_scale=1, hires_upscaler="Latent",
                hires_steps=0, hires_strength=0.5, loras=None, lora_weight=0.8, lang="zh", schedule_type="Automatic",
                use_old_scheduling=False, control_1_on=False, control_1_kind="scribble", control_1_image=None,
                control_1_preprocess=True, control_1_weight=1.0, control_1_start=0.0, control_1_end=1.0,
                control_1_model="", control_1_low=100, control_1_high=200, control_2_on=False,
                control_2_kind="scribble", control_2_image=None, control_2_preprocess=True, control_2_weight=1.0,
                control_2_start=0.0, control_2_end=1.0, control_2_model="", control_2_low=100, control_2_high=200,
                guess_mode=False):
    """The script for the current controls; seed -1 shows the seed of the last run, so the code makes that image."""
    return api.export_code(prompt, negative_prompt, model, sampler, steps, cfg_scale, _last_seed(seed, used_seed),
                           batch_size=batch_size, **_job_args(locals()))


def _unit_values(args: dict) -> list:
    """A handler's control_<n>_<field> arguments in the order tabs.image_control.units reads them."""
    return [args[f"control_{n}_{field}"] for n in range(1, image_control.UNITS + 1)
            for field in image_control.UNIT_FIELDS]


@guarded
def read_png(file, lang):
    """PNG 信息: the parameters stored in a dropped PNG, JPEG or WebP, as text, as fields for 发送到文生图, and the
    note naming those it will not apply."""
    if file is None:
        return "", {}, ""
    fields = api.read_infotext(file)  # a clear message for a non-image or an image without parameters
    return read_image_text(Image.open(file)), fields, unapplied_note(fields, lang)


def unapplied_note(fields, lang) -> str:
    """The fields 发送到文生图 leaves alone (Clip skip, VAE, ADetailer ...), as one notice; none: empty."""
    models = {c.key for c in cards("image")} | set(api.local_models("image"))
    skipped = unapplied_fields(fields or {}, models, control_units=image_control.UNITS)
    return notices_md([s("image.png_unapplied", lang, fields=", ".join(skipped))]) if skipped else ""


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


def schedule_choices(sampler, schedule_type):
    """The schedule types the sampler takes; the chosen one kept where it still applies, else Automatic. A typed
    name that is no sampler changes nothing (the run names it, with the studio's message)."""
    try:
        kinds = api.image_schedule_types(sampler)
    except StudioError:
        return gr.skip()
    return gr.update(choices=kinds, value=schedule_type if schedule_type in kinds else "Automatic")


def send_schedule(fields, sampler, schedule_type):
    """After 发送到文生图 set the sampler: the PNG's schedule type where its sampler was set and takes it (a type the
    studio lacks, such as Align Your Steps, is not applied: the current one stays if it still applies)."""
    if not fields:
        return gr.skip()
    update = schedule_choices(sampler, schedule_type)
    if fields.get("sampler") == sampler and fields.get("schedule_type") in update.get("choices", ()):  # skip: none
        update["value"] = fields["schedule_type"]
    return update


def send_hires(fields, scale, upscaler, steps, strength):
    """The hires fix a PNG records (Hires upscale, or the final size of "Hires resize" / A1111's old "First pass
    size" as a scale; Hires steps / upscaler, Denoising strength); none the studio can set: off. A value it cannot
    set (an ESRGAN upscaler) keeps the control's own."""
    if not fields:
        return scale, upscaler, steps, strength
    hires = hires_fix(fields)
    if hires is None:
        return 1, upscaler, steps, strength
    keep = lambda key, current: current if hires[key] is None else hires[key]  # noqa: E731
    return hires["scale"], keep("upscaler", upscaler), keep("steps", steps), keep("strength", strength)


@guarded
def model_defaults(model, lang):
    """A picked model's defaults, and the samplers its scheduler family takes."""
    d = api.model_defaults(model)
    sampler = gr.update(choices=api.image_samplers(model), value=d["sampler"])
    schedule = schedule_choices(d["sampler"], d.get("schedule_type", "Automatic"))
    return d["width"], d["height"], d["steps"], d["cfg_scale"], sampler, d.get("live", False), schedule


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    d = api.model_defaults("mini-shapes")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("image.model", "image", "mini-shapes")
            prompt = ui.add(gr.Textbox, "image.prompt", lines=3)
            tokens = gr.Markdown(token_count("", "mini-shapes", ui.lang))
            with gr.Row(equal_height=True):  # beside the prompt, as in A1111 (issue 36)
                go = ui.button("image.generate", variant="primary", scale=3)
                stop = ui.button("image.stop", variant="stop", scale=1)
                live = ui.add(gr.Checkbox, "image.live", value=d.get("live", False), scale=1)
                show_code = ui.button("image.show_code", scale=1)
            ui.md("image.weighting_help")
            negative = ui.add(gr.Textbox, "image.negative", lines=2)
            negative_button = ui.button("image.common_negative", size="sm")
            first_negative, first_hires = mini_limits.image_notes("mini-shapes", ui.lang)  # mini-shapes' limits
            negative_note = gr.Markdown(**mini_limits.note_args(first_negative), elem_classes="studio-mini-limit")
            with gr.Row(equal_height=True):
                loras = ui.add(gr.Dropdown, "image.loras", choices=list(available_loras(files.NOBODY)), value=[],
                               multiselect=True, allow_custom_value=True, scale=3)
                # Listed: built-in and shared LoRAs, and on focus this learner's own (lora_choices); any name is let
                # through to studio.image.lora, which refuses one this learner may not use with the studio's message.
                lora_weight = ui.knob("image.lora_weight", KNOBS["lora_weight"], value=0.8, scale=2)
            mode = ui.add(gr.Radio, "image.mode", choices=mode_choices(ui.lang), value="txt2img")
            ui.on_lang(mode, lambda lg: {"choices": mode_choices(lg)})
            with gr.Group(visible=False) as source_box:
                editor = ui.add(gr.ImageEditor, "image.init", fill=upload_limit(), type="pil", height=320,
                                sources=["upload", "clipboard"],
                                brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=12),
                                transforms=(), eraser=gr.Eraser())
                strength = ui.knob("image.strength", KNOBS["denoising_strength"], value=0.75)
            with gr.Row(equal_height=True):  # A1111 1.9+ / Forge: the schedule type beside the sampler
                # custom values: old joined names ("DPM++ 2M Karras") still reach studio.api through the endpoint
                sampler = ui.add(gr.Dropdown, "image.sampler", choices=api.image_samplers("mini-shapes"),
                                 value=d["sampler"], allow_custom_value=True, scale=3)
                schedule_type = ui.add(gr.Dropdown, "image.schedule_type", scale=2,
                                       choices=api.image_schedule_types(d["sampler"]), value=d["schedule_type"])
            steps = ui.knob("image.steps", KNOBS["steps"], value=d["steps"])
            cfg = ui.knob("image.cfg", KNOBS["cfg_scale"], value=d["cfg_scale"])
            with gr.Row():
                # The widest range any model allows; each model's own cap is checked by studio.api with a message.
                width = ui.knob("image.width", KNOBS["width"], value=d["width"])
                height = ui.knob("image.height", KNOBS["height"], value=d["height"])
            with gr.Row(equal_height=True):
                seed = ui.add(gr.Number, "image.seed", value=-1, precision=0, scale=3)
                # Text, not 🎲 / ♻️: without an emoji font (Debian's chromium) those are empty boxes (issue 36.8)
                dice = ui.button("image.dice", size="sm", scale=0, min_width=64)
                reuse = ui.button("image.reuse", size="sm", scale=0, min_width=64)
            with gr.Row():
                batch = ui.knob("image.batch_size", KNOBS["batch_size"], value=1)
                batch_count = ui.knob("image.batch_count", KNOBS["batch_count"], value=1)
            with ui.on_lang(gr.Accordion(s("image.hires", ui.lang), open=False),
                            lambda lg: {"label": s("image.hires", lg)}):
                hires_note = gr.Markdown(**mini_limits.note_args(first_hires), elem_classes="studio-mini-limit")
                with gr.Row():
                    hires_scale = ui.knob("image.hires_scale", KNOBS["hires_scale"], value=1)
                    hires_upscaler = ui.add(gr.Radio, "image.hires_upscaler", choices=["Latent", "Lanczos"],
                                            value="Latent")
                with gr.Row():
                    hires_steps = ui.knob("image.hires_steps", KNOBS["hires_steps"], value=0)
                    hires_strength = ui.knob("image.hires_strength", KNOBS["hires_strength"], value=0.5)
                # A1111's setting of that name: how [from:to:when] counts in the hires pass (PNG 信息 sets it)
                old_timelines = ui.add(gr.Checkbox, "image.old_timelines", value=False)
            control_inputs = image_control.build(ui, lang, model, width, height)
        with gr.Column(scale=5, elem_classes="studio-result"):  # stays in view while the controls scroll
            # Progress and errors show on this line only, so a failed run never hides the last images.
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            # Height "auto": one picture fills a full-width square cell, which a fixed height cut off at the bottom.
            gallery = ui.add(gr.Gallery, "image.gallery", columns=2, height="auto", format="png", object_fit="contain",
                             type="filepath", interactive=False,
                             elem_classes=["studio-main-result", "studio-batch", "studio-pixels"])  # app.py: CSS
            selected = gr.State(0)
            send_img2img = ui.button("image.send_img2img", size="sm")
            used_seed = ui.add(gr.Textbox, "image.used_seed", interactive=False)
            infotext = ui.add(gr.Textbox, "image.infotext", lines=3, interactive=False)
            code = ui.add(gr.Code, "image.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("image.history", ui.lang), open=False),
                            lambda lg: {"label": s("image.history", lg)}):
                past = gr.Gallery(columns=6, height=240, object_fit="contain", show_label=False, format="png",
                                  interactive=False, elem_classes="studio-pixels")
            with ui.on_lang(gr.Accordion(s("image.png_info", ui.lang), open=False),
                            lambda lg: {"label": s("image.png_info", lg)}):
                png = ui.add(gr.File, "image.png_file", fill=upload_limit(), file_types=["image"], type="filepath")
                png_text = ui.add(gr.Textbox, "image.png_text", lines=3, interactive=False)
                png_note = gr.Markdown()  # the parameters 发送到文生图 will not apply
                png_fields = gr.State({})
                send = ui.button("image.send")
    image_prompt.build(ui, lang, prompt, notices, model)
    # The mini model's limits beside the negative prompt and the hires fix, before a run, in the page's language.
    model.change(mini_limits.image_notes, [model, lang], [negative_note, hires_note], api_visibility="private",
                 queue=False)
    ui.on_switch(lambda lg, m: mini_limits.image_notes(m, lg), [model], [negative_note, hires_note])
    image_grid.build(ui, lang, dict(prompt=prompt, negative=negative, model=model, sampler=sampler, steps=steps,
                                    cfg=cfg, seed=seed, width=width, height=height, schedule_type=schedule_type))
    image_experiment.build(ui, lang, dict(prompt=prompt, model=model, steps=steps, seed=seed, width=width,
                                          height=height))
    image_explain.build(ui, lang, gallery, dict(prompt=prompt, negative=negative, model=model, sampler=sampler,
                                                    steps=steps, cfg=cfg, seed=seed, width=width, height=height,
                                                    schedule_type=schedule_type))
    controls = [prompt, negative, model, sampler, steps, cfg, seed, width, height, batch]
    extra = [mode, editor, strength, hires_scale, hires_upscaler, hires_steps, hires_strength, loras, lora_weight]
    loras.focus(lora_choices, None, loras, api_visibility="private", queue=False)  # the 模型微调 tab may add one
    outputs = [gallery, used_seed, infotext, notices]
    # schedule_type last: gradio_client calls that name the inputs by position keep working
    generated = go.click(generate_image, [*controls, batch_count, *extra, lang, schedule_type, old_timelines,
                                          *control_inputs], outputs,
                         api_name="generate_image",
                         concurrency_id=GPU, show_progress_on=[notices])
    ui.on_saved(generated)
    ui.history_gallery = past
    stop.click(stop_run, None, None, api_name="stop", queue=False)
    show_code.click(export_code, [prompt, negative, model, sampler, steps, cfg, seed, used_seed, width, height, batch,
                                  *extra, lang, schedule_type, old_timelines, *control_inputs], code,
                      api_name="export_code",
                      concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False, api_visibility="private")
    negative_button.click(lambda text: ", ".join(p for p in (text.strip(), common_negative("en")) if p),
                          negative, negative, api_visibility="private", queue=False)
    dice.click(lambda: -1, None, seed, api_visibility="private", queue=False)
    reuse.click(lambda used, current: int(used.split(",")[0]) if used else current, [used_seed, seed], seed,
                api_visibility="private", queue=False)
    for box in (prompt, model):
        box.change(token_count, [prompt, model, lang], tokens, api_visibility="private", queue=False,
                   show_progress="hidden")
    ui.on_switch(lambda lg, p, m: token_count(p, m, lg), [prompt, model], tokens)
    mode.change(lambda m: gr.update(visible=m != "txt2img"), mode, source_box, api_visibility="private", queue=False)
    gallery.select(_selected_index, None, selected, api_visibility="private", queue=False)
    send_img2img.click(send_to_img2img, [gallery, selected], [editor, mode], api_visibility="private", queue=False)
    png.change(read_png, [png, lang], [png_text, png_fields, png_note], api_visibility="private",
               concurrency_limit=None)
    ui.on_switch(lambda lg, f: unapplied_note(f, lg), [png_fields], [png_note])
    send.click(send_to_txt2img, [png_fields, model, prompt, negative, sampler, steps, cfg, seed, width, height],
               [model, prompt, negative, sampler, steps, cfg, seed, width, height], api_visibility="private",
               queue=False) \
        .then(send_hires, [png_fields, hires_scale, hires_upscaler, hires_steps, hires_strength],
              [hires_scale, hires_upscaler, hires_steps, hires_strength], api_visibility="private", queue=False) \
        .then(send_schedule, [png_fields, sampler, schedule_type], schedule_type, api_visibility="private",
              queue=False) \
        .then(lambda fields, old: fields.get("use_old_scheduling") is True if fields else old,
              [png_fields, old_timelines], old_timelines, api_visibility="private", queue=False) \
        .then(image_control.send, [png_fields], control_inputs, api_visibility="private", queue=False)
    switched_on = [control_inputs[n * len(image_control.UNIT_FIELDS)] for n in range(image_control.UNITS)]
    live_inputs = [live, prompt, negative, model, sampler, steps, cfg, seed, used_seed, width, height, mode,
                   hires_scale, hires_upscaler, hires_steps, hires_strength, loras, lora_weight, lang, schedule_type,
                   old_timelines, *switched_on]
    for knob in (steps, cfg, width, height):  # a typed value is released as typed (tabs/slider_box.py)
        knob.release(live_generate, live_inputs, outputs, api_visibility="private",
                     concurrency_id=GPU, trigger_mode="always_last", show_progress_on=[notices])
    # a picked sampler offers the schedule types it takes, then (实时) the picture again
    sampler.input(schedule_choices, [sampler, schedule_type], schedule_type, api_visibility="private", queue=False) \
        .then(live_generate, live_inputs, outputs, api_visibility="private",
              concurrency_id=GPU, trigger_mode="always_last", show_progress_on=[notices])
    schedule_type.input(live_generate, live_inputs, outputs, api_visibility="private",
                        concurrency_id=GPU, trigger_mode="always_last", show_progress_on=[notices])
    model.change(model_defaults, [model, lang], [width, height, steps, cfg, sampler, live, schedule_type],
                 api_visibility="private")


def _selected_index(evt: gr.SelectData) -> int:
    return evt.index
