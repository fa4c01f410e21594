"""文生图 · 原理: forward diffusion with the model's schedule, the denoising timeline, CFG's three predictions."""
import gradio as gr
import pandas as pd

from studio import api

from .runner import Stops, run, work
from .ui import GPU, UI, guarded, notices_md, s


stops = Stops("explain")


@guarded
def forward(gallery, t, model, lang):
    """Noise the first image of the results (a shapes drawing before the first result)."""
    first = gallery[0] if gallery else None
    image = first[0] if isinstance(first, (list, tuple)) else first
    r = api.forward_diffusion(image, t, model)
    curve = pd.DataFrame({"t": range(len(r["curve"])), "abar": r["curve"]})
    text = s("explain.forward_values", lang, t=r["t"], abar=f"{r['abar']:.4f}", signal=f"{r['signal']:.3f}",
             noise=f"{r['noise']:.3f}")
    return r["image"], curve, text


def curve_titles(lang: str) -> dict:
    """The noise schedule's axis titles in the page's language (Vega draws them into the chart)."""
    t, abar = s("explain.curve_axes", lang).split("|")
    return {"x_title": t, "y_title": abar}


@guarded
async def timeline(prompt, negative, model, sampler, steps, cfg, seed, width, height, lang, schedule_type="Automatic",
                   request: gr.Request = None):
    job = stops.start(request, lang=lang, model=model, work=work(steps), size=f"{width}x{height}")
    r = await run(job, lambda stop, _progress: api.denoising_timeline(
        prompt, negative, model, sampler, steps, cfg, seed, width, height, lang=lang, stop=stop,
        schedule_type=schedule_type))
    edited = len(r["changes"]) > 1  # prompt editing or alternation: each frame names its step's prompt
    frames = [(img, s("explain.step_prompt", lang, step=step, prompt=used) if edited else s("explain.step", lang,
                                                                                              step=step))
              for (step, img), used in zip(r["frames"], r["prompts"])]
    notes = [s("explain.timeline_done", lang, seed=r["seed"], sampler=r["sampler"])]
    if edited:
        listed = [s("explain.prompt_change", lang, first=a, last=b, prompt=p) for a, b, p in r["changes"][:6]]
        listed += ["…"] if len(r["changes"]) > 6 else []  # alternation changes every step
        notes.append(s("explain.prompt_steps", lang, changes=("；" if lang == "zh" else "; ").join(listed)))
    return frames, notices_md(r["notices"] + notes)


@guarded
async def cfg_parts(prompt, negative, model, sampler, steps, cfg, seed, width, height, lang, schedule_type="Automatic",
                    request: gr.Request = None):
    job = stops.start(request, lang=lang, model=model, work=work(steps), size=f"{width}x{height}")
    r = await run(job, lambda stop, _progress: api.cfg_parts(
        prompt, negative, model, sampler, steps, cfg, seed, width, height, lang=lang, stop=stop,
        schedule_type=schedule_type))
    return [(r["uncond"], s("explain.uncond", lang)), (r["cond"], s("explain.cond", lang)),
            (r["guided"], s("explain.guided", lang, cfg=r["cfg_scale"]))], notices_md(r["notices"])


def build(ui: UI, lang: gr.State, gallery: gr.Gallery, c: dict) -> None:
    """c: the tab's controls by name (prompt, negative, model, sampler, steps, cfg, seed, width, height,
    schedule_type)."""
    with ui.on_lang(gr.Accordion(s("explain.title", ui.lang), open=False),
                    lambda lg: {"label": s("explain.title", lg)}):
        ui.md("explain.forward_intro")
        with gr.Row():
            t = ui.add(gr.Slider, "explain.t", minimum=0, maximum=999, step=1, value=300)
            show_forward = ui.button("explain.forward_go", scale=0)
        with gr.Row():
            noisy = ui.add(gr.Image, "explain.noisy", type="pil", height=220, interactive=False)
            curve = ui.on_lang(gr.LinePlot(x="t", y="abar", height=220, title="ᾱ_t (alphas_cumprod)",
                                           **curve_titles(ui.lang)), curve_titles)
        values = gr.Markdown()
        ui.md("explain.timeline_intro")
        show_timeline = ui.button("explain.timeline_go")
        frames = ui.add(gr.Gallery, "explain.frames", columns=6, height="auto", object_fit="contain")
        ui.md("explain.cfg_intro")
        show_cfg = ui.button("explain.cfg_go")
        parts = ui.add(gr.Gallery, "explain.parts", columns=3, height="auto", object_fit="contain")
        notes = gr.Markdown()
    run_inputs = [c[k] for k in ("prompt", "negative", "model", "sampler", "steps", "cfg", "seed", "width", "height")]
    for event in (t.release, show_forward.click):
        event(forward, [gallery, t, c["model"], lang], [noisy, curve, values], api_visibility="private",
              queue=False)
    show_timeline.click(timeline, [*run_inputs, lang, c["schedule_type"]], [frames, notes],
                        api_name="denoising_timeline", concurrency_id=GPU, show_progress_on=[notes])
    show_cfg.click(cfg_parts, [*run_inputs, lang, c["schedule_type"]], [parts, notes], api_name="cfg_parts",
                   concurrency_id=GPU,
                   show_progress_on=[notes])
