"""文生视频: prompt, negative prompt, size, frames, fps, steps, guidance, flow shift, seed -> an MP4 and its frames."""
import gradio as gr

from studio import api

from .ui import GPU, UI, guarded, notices_md, progress_callback


@guarded
def generate_video(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height, flow_shift,
                   lang, progress=gr.Progress()):
    result = api.generate_video(prompt, negative_prompt, model, steps, cfg_scale, seed, num_frames, fps, width, height,
                                flow_shift=flow_shift, lang=lang, progress=progress_callback(progress))
    strip = [(frame, f"{i + 1}/{len(result.frames)}") for i, frame in enumerate(result.frames)]
    return str(result.path) if result.path else None, strip, str(result.seed), notices_md(result.notices)


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    return (d["width"], d["height"], d["num_frames"], d["fps"], d["steps"], d["cfg_scale"],
            d.get("flow_shift", 3.0), d["negative_prompt"])


def build(ui: UI, lang: gr.State) -> None:
    d = api.model_defaults("mini-motion")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("video.model", "video", "mini-motion")
            prompt = ui.add(gr.Textbox, "video.prompt", lines=2, value="蓝色背景上的红色圆形从左向右移动")
            negative = ui.add(gr.Textbox, "video.negative", value=d["negative_prompt"])
            with gr.Row():
                width = ui.add(gr.Slider, "video.width", minimum=16, maximum=1280, step=16, value=d["width"])
                height = ui.add(gr.Slider, "video.height", minimum=16, maximum=1280, step=16, value=d["height"])
            with gr.Row():
                frames = ui.add(gr.Slider, "video.frames", minimum=1, maximum=81, step=4, value=d["num_frames"])
                fps = ui.add(gr.Slider, "video.fps", minimum=1, maximum=30, step=1, value=d["fps"])
            with gr.Row():
                steps = ui.add(gr.Slider, "video.steps", minimum=1, maximum=100, step=1, value=d["steps"])
                cfg = ui.add(gr.Slider, "video.cfg", minimum=1, maximum=15, step=0.5, value=d["cfg_scale"])
            with gr.Row():
                shift = ui.add(gr.Slider, "video.flow_shift", minimum=0.5, maximum=12, step=0.5, value=3.0)
                seed = ui.add(gr.Number, "video.seed", value=-1, precision=0)
            go = ui.button("video.generate", variant="primary")
        with gr.Column(scale=5):
            notices = gr.Markdown(min_height=48)
            video = ui.add(gr.Video, "video.output", autoplay=True, loop=True, height=360)
            strip = ui.add(gr.Gallery, "video.strip", columns=9, height=160, object_fit="contain")
            used_seed = ui.add(gr.Textbox, "video.used_seed", interactive=False)
    go.click(generate_video, [prompt, negative, model, steps, cfg, seed, frames, fps, width, height, shift, lang],
             [video, strip, used_seed, notices], api_name="generate_video", concurrency_id=GPU,
             show_progress_on=[notices])
    model.change(model_defaults, [model, lang], [width, height, frames, fps, steps, cfg, shift, negative],
                 api_visibility="private")
