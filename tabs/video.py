"""文生视频: prompt, negative prompt, size (presets, 显存推荐), frames, fps, steps, guidance, flow shift, seed ->
an MP4, its frames and a GIF; stop; 查看代码; 原理 (spacetime patches, temporal consistency)."""
import gradio as gr
import pandas as pd

from studio import api
from studio.api.web import MAX_SEED, frame_differences, lecture_cost, number, patch_picture, wan_patches
from studio.video.knobs import KNOBS

from . import mini_limits, mywork
from .runner import Stops, run, work
from .ui import GPU, UI, Page, guarded, notices_md, s


stops = Stops("video")
# (height, width) presets: Wan's 480p both ways and the smaller rows of the memory rule; the mini model's own.
WAN_SIZES = [(480, 832), (832, 480), (384, 640), (320, 576), (256, 448)]
MINI_SIZES = [(64, 64), (128, 128)]


def size_choices(model: str) -> list[tuple[str, str]]:
    sizes = MINI_SIZES if api.model_defaults(model)["max_side"] <= 256 else WAN_SIZES
    return [(f"{h}x{w} ({'横屏' if w > h else '竖屏' if h > w else '方形'})", f"{h}x{w}") for h, w in sizes]


@guarded
async def generate_video(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height,
                         flow_shift, lang="zh", request: gr.Request = None, progress=gr.Progress()):
    """Async over tabs.runner.run: a cancel (or a closed page) stops the run at its next denoising step."""
    job = stops.start(request, lang=lang, model=model, work=work(steps), size=f"{width}x{height}x{num_frames}")
    result = await run(job, lambda stop, on_progress: api.generate_video(
        prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height,
        flow_shift=_shift(model, flow_shift), stop=stop, lang=lang, progress=on_progress), progress)
    strip = [(frame, f"{i + 1}/{len(result.frames)}") for i, frame in enumerate(result.frames)]
    mywork.stash(request, [(result.path, "")], kind="video", prompt=prompt, seed=result.seed)
    return (str(result.path) if result.path else None, strip, str(result.seed), notices_md(result.notices),
            str(result.gif) if result.gif else None, result.frames)


def _shift(model, value):
    """The flow-shift slider's value, or None for a model without one (its slider is hidden)."""
    return None if api.model_defaults(model).get("flow_shift", 0) is None else value


def stop_run(request: gr.Request):
    stops.stop(request)


@guarded
def export_code(prompt, negative_prompt, model, steps, cfg_scale, seed, used_seed, num_frames, fps, width, height,
                flow_shift, lang="zh"):
    """The script for the current controls; seed -1 shows the last run's seed, so the code makes that video."""
    if str(seed).strip() in ("", "-1") and str(used_seed or "").strip():
        seed = number("used_seed", str(used_seed).split(",")[0], 0, MAX_SEED, int)
    return api.export_video_code(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width,
                                 height, flow_shift=_shift(model, flow_shift), lang=lang)


@guarded
def recommend(model, lang="zh"):
    r = api.recommend_video_settings(model, lang=lang)
    return r["width"], r["height"], r["num_frames"], r["reason"]


def apply_size(choice):
    height, width = (int(x) for x in choice.split("x"))
    return width, height


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    choices = size_choices(model)
    return (d["width"], d["height"], frames_slider(d), d["fps"], d["steps"], d["cfg_scale"], shift_slider(d),
            d["negative_prompt"], gr.update(choices=choices, value=None))


def frames_slider(d: dict) -> dict:
    """Wan counts frames as 4k+1 (1, 5, ... 81); UNet video models take any count (mini-motion: 8)."""
    return gr.update(value=d["num_frames"], step=d["frame_step"], minimum=1)


def shift_slider(d: dict) -> dict:
    """Flow shift exists only for flow-matching models (Wan); for a UNet video model the slider would do nothing."""
    shift = d.get("flow_shift", 3.0)
    return gr.update(value=shift or 3.0, visible=shift is not None)


def patches(seconds, fps, height, width, patch, price, frames, lang="zh") -> str:
    """The lecture's arithmetic (raw-pixel patches) and Wan's (latent spacetime patches) for these numbers."""
    try:
        cost = lecture_cost(float(seconds), float(fps), int(height), int(width), max(1, int(patch)),
                                       float(price))
        wan = wan_patches(int(frames), int(height), int(width))
    except (TypeError, ValueError, OverflowError):  # a half-typed number: keep the last result
        return gr.update()
    return s("video.patch_result", lang, seconds=seconds, fps=fps, frames=cost["frames"], h=int(height),
             w=int(width), patch=int(patch), per=cost["tokens_per_frame"], tokens=cost["tokens"], cost=cost["cost"],
             price=price, wan_frames=wan.frames, grid=" x ".join(map(str, wan.grid)), wan_tokens=wan.tokens)


def consistency(frames):
    """Frame-to-frame change of the clip just made, and its first frame with Wan's 16-pixel patch grid."""
    if not frames:
        return gr.update(), gr.update()
    diffs = frame_differences(frames)
    plot = pd.DataFrame({"frame": list(range(2, len(frames) + 1)), "change": diffs})
    return plot, patch_picture(frames[0], 16)


def change_titles(lang: str) -> dict:
    """The consistency plot's axis titles in the page's language (Vega draws them into the chart)."""
    frame, change = s("video.change_axes", lang).split("|")
    return {"x_title": frame, "y_title": change}


@guarded
def one_vs_many(prompt, negative_prompt, model, steps, cfg_scale, used_seed, num_frames, fps, width, height,
                flow_shift, frames_made, lang="zh"):
    """The same seed and prompt as one still frame and as the clip's first frame: with more frames the model
    must keep them consistent, and the picture itself changes."""
    if not frames_made or not str(used_seed or "").strip():
        return gr.update()
    still = api.generate_video(prompt, negative_prompt, model, steps, cfg_scale, int(used_seed), 1, fps, width,
                               height, flow_shift=_shift(model, flow_shift), save=False, lang=lang)
    return [(still.frames[0], s("video.one_frame", lang)),
            (frames_made[0], s("video.many_frames", lang, frames=len(frames_made)))]


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    d = api.model_defaults("mini-motion")
    last_frames = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("video.model", "video", "mini-motion")
            prompt = ui.add(gr.Textbox, "video.prompt", lines=2, value="蓝色背景上的红色圆形从左向右移动")
            negative = ui.add(gr.Textbox, "video.negative", value=d["negative_prompt"])
            with gr.Row():  # beside the prompt (issue 36)
                go = ui.button("video.generate", variant="primary", scale=2)
                stop = ui.button("video.stop", variant="stop", scale=1)
                show_code = ui.button("video.show_code", scale=1)
            with gr.Row(equal_height=True):
                size = ui.add(gr.Dropdown, "video.size", choices=size_choices("mini-motion"), value=None, scale=3)
                advise = ui.button("video.recommend", scale=1)
            advice = gr.Markdown()
            with gr.Row():
                width = ui.knob("video.width", KNOBS["width"], value=d["width"])
                height = ui.knob("video.height", KNOBS["height"], value=d["height"])
            with gr.Row():
                frames = ui.knob("video.frames", KNOBS["num_frames"], step=d["frame_step"], value=d["num_frames"])
                fps = ui.knob("video.fps", KNOBS["fps"], value=d["fps"])
            # mini-motion's 8 trained frames, said before a run while it is the model (issue 36)
            frames_note = gr.Markdown(**mini_limits.note_args(mini_limits.frames_note("mini-motion", d["num_frames"],
                                                                                      ui.lang)),
                                      elem_classes="studio-mini-limit")
            with gr.Row():
                steps = ui.knob("video.steps", KNOBS["steps"], value=d["steps"])
                cfg = ui.knob("video.cfg", KNOBS["cfg_scale"], value=d["cfg_scale"])
            with gr.Row():
                shift = ui.knob("video.flow_shift", KNOBS["flow_shift"], value=3.0,
                                visible=d.get("flow_shift", 3.0) is not None)
                seed = ui.add(gr.Number, "video.seed", value=-1, precision=0)
        with gr.Column(scale=5, elem_classes="studio-result"):  # stays in view while the controls scroll
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            video = ui.add(gr.Video, "video.output", autoplay=True, loop=True, height=360,
                           elem_classes="studio-main-result")
            # Every frame in view, crisp: 8 to a row, as many rows as the clip needs (app.py: studio-strip CSS)
            strip = ui.add(gr.Gallery, "video.strip", columns=8, height="auto", object_fit="contain",
                           elem_classes=["studio-strip", "studio-pixels"])
            with gr.Row():
                used_seed = ui.add(gr.Textbox, "video.used_seed", interactive=False)
                gif = ui.add(gr.File, "video.gif", interactive=False)
            code = ui.add(gr.Code, "video.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("video.explain", ui.lang), open=False),
                            lambda lg: {"label": s("video.explain", lg)}):
                ui.md("video.patch_intro")
                with gr.Row():
                    seconds = ui.add(gr.Number, "video.seconds", value=60)
                    lecture_fps = ui.add(gr.Number, "video.lecture_fps", value=30)
                    patch = ui.add(gr.Number, "video.patch", value=16, precision=0)
                    price = ui.add(gr.Number, "video.price", value=10)
                patch_text = gr.Markdown(patches(60, 30, d["height"], d["width"], 16, 10, d["num_frames"], ui.lang))
                ui.md("video.consistency_intro")
                change = ui.add(gr.LinePlot, "video.change", x="frame", y="change", height=200, y_lim=[0, None],
                                **change_titles(ui.lang))
                ui.on_lang(change, change_titles)
                grid = ui.add(gr.Image, "video.grid", interactive=False, type="pil", height=260)
                one_many = ui.button("video.one_vs_many")
                pair = ui.add(gr.Gallery, "video.pair", columns=2, height="auto", object_fit="contain")
    inputs = [prompt, negative, model, steps, cfg, seed, frames, fps, width, height, shift, lang]
    ui.on_saved(go.click(generate_video, inputs, [video, strip, used_seed, notices, gif, last_frames],
                         api_name="generate_video", concurrency_id=GPU, show_progress_on=[notices])) \
        .success(consistency, last_frames, [change, grid], api_visibility="private", queue=False)
    stop.click(stop_run, None, None, api_name="stop_video", queue=False)
    one_many.click(one_vs_many, [prompt, negative, model, steps, cfg, used_seed, frames, fps, width, height, shift,
                                 last_frames, lang], pair, api_visibility="private", concurrency_id=GPU)
    show_code.click(export_code, [prompt, negative, model, steps, cfg, seed, used_seed, frames, fps, width, height,
                                  shift, lang], code, api_name="export_video_code", concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False, api_visibility="private")
    advise.click(recommend, [model, lang], [width, height, frames, advice], api_name="recommend_video_settings",
                 queue=False)
    size.input(apply_size, size, [width, height], api_visibility="private", queue=False)
    calculator = [seconds, lecture_fps, height, width, patch, price, frames, lang]
    for trigger in (seconds.change, lecture_fps.change, patch.change, price.change, width.change, height.change,
                    frames.change):
        trigger(patches, calculator, patch_text, api_visibility="private", queue=False)
    # The switch sets the lang State without firing its .change: the calculator's text is redone on the switch.
    ui.on_switch(lambda lg, *numbers: patches(*numbers, lg), calculator[:-1], patch_text)
    model.change(model_defaults, [model, lang], [width, height, frames, fps, steps, cfg, shift, negative, size],
                 api_visibility="private")
    for trigger in (model.change, frames.change):
        trigger(mini_limits.frames_note, [model, frames, lang], frames_note, api_visibility="private", queue=False,
                show_progress="hidden")
    ui.on_switch(lambda lg, m, n: mini_limits.frames_note(m, n, lg), [model, frames], frames_note)
