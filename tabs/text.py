"""文本生成: sampling knobs -> text, and the next-token distribution those knobs produce (live)."""
import gradio as gr
import pandas as pd

from studio import api

from .ui import GPU, UI, guarded, notices_md, s

# The course's presets (module 5): (temperature, top_p, top_k); None keeps the current value.
PRESETS = {"creative": (1.0, 0.9, 40), "code": (0.1, 0.95, 20), "qa": (0.2, None, None)}
TOP_N = 15


def preset_choices(lang: str) -> list[tuple[str, str]]:
    return list(zip(s("text.presets", lang).split("|"), ["", *PRESETS]))


def _shown(token: str) -> str:
    """Whitespace tokens made visible on a chart axis."""
    return token.replace("\n", "↵").replace(" ", "␣") or "∅"


@guarded
def generate_text(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, lang):
    result = api.generate_text(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
                               lang=lang)
    shown = result.text if result.chat else prompt + result.text  # a base model continues the prompt
    return shown, str(result.seed), notices_md(result.notices)


@guarded
def token_distribution(prompt, model, temperature, top_k, top_p, repetition_penalty, lang):
    rows = api.token_distribution(prompt, model, temperature, top_k, top_p, TOP_N,
                                  repetition_penalty=repetition_penalty, lang=lang)
    kept, cut = s("text.kept", lang), s("text.cut", lang)
    labels = [f"{r['rank']}. {_shown(r['token'])}" for r in rows]
    chart = pd.DataFrame({"token": labels, "p": [r["p_temperature"] for r in rows],
                          "status": [kept if r["kept"] else cut for r in rows]})
    table = pd.DataFrame([[label, f"{r['p_raw']:.4f}", f"{r['p_temperature']:.4f}", f"{r['cumulative']:.4f}",
                           kept if r["kept"] else cut, f"{r['p_final']:.4f}"] for label, r in zip(labels, rows)],
                         columns=s("text.cols", lang).split("|"))
    return gr.update(value=chart, x_label_angle=-40, sort=labels), table


@guarded
def compare(prompt, model, top_k, top_p, max_new_tokens, seed, lang):
    """The course's 0.2 / 0.7 / 1.2 experiment: one seed, three temperatures, side by side."""
    results = api.compare_temperatures(prompt, model, top_k=top_k, top_p=top_p, max_new_tokens=max_new_tokens,
                                       seed=seed, lang=lang)
    shown = [r.text if r.chat else prompt + r.text for r in results]
    return (*shown, notices_md(results[0].notices))


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    return d["temperature"], d["top_k"], d["top_p"], d["max_new_tokens"], d["repetition_penalty"]


def apply_preset(name, temperature, top_p, top_k):
    if name not in PRESETS:
        return temperature, top_p, top_k
    new = PRESETS[name]
    return tuple(old if value is None else value for value, old in zip(new, (temperature, top_p, top_k)))


def build(ui: UI, lang: gr.State) -> None:
    d = api.model_defaults("mini-poem")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("text.model", "text", "mini-poem")
            prompt = ui.add(gr.Textbox, "text.prompt", lines=3, value="床前明月光")
            preset = ui.add(gr.Radio, "text.preset", choices=preset_choices(ui.lang), value="")
            ui.on_lang(preset, lambda lg: {"choices": preset_choices(lg)})
            temperature = ui.add(gr.Slider, "text.temperature", minimum=0, maximum=2, step=0.05, value=d["temperature"])
            with gr.Row():
                top_k = ui.add(gr.Slider, "text.top_k", minimum=0, maximum=100, step=1, value=d["top_k"])
                top_p = ui.add(gr.Slider, "text.top_p", minimum=0.01, maximum=1, step=0.01, value=d["top_p"])
            with gr.Row():
                penalty = ui.add(gr.Slider, "text.repetition_penalty", minimum=1, maximum=2, step=0.01,
                                 value=d["repetition_penalty"])
                max_new = ui.add(gr.Slider, "text.max_new_tokens", minimum=1, maximum=api.MAX_NEW_TOKENS, step=1,
                                 value=d["max_new_tokens"])
            seed = ui.add(gr.Number, "text.seed", value=-1, precision=0)
            go = ui.button("text.generate", variant="primary")
        with gr.Column(scale=5):
            notices = gr.Markdown(min_height=48)
            output = ui.add(gr.Textbox, "text.output", lines=8, interactive=False)
            used_seed = ui.add(gr.Textbox, "text.used_seed", interactive=False)
            with ui.on_lang(gr.Accordion(s("text.compare", ui.lang), open=False),
                            lambda lg: {"label": s("text.compare", lg)}):
                ui.md("text.compare_intro")
                with gr.Row():
                    columns = [gr.Textbox(label=f"T = {t}", lines=6, interactive=False)
                               for t in api.COURSE_TEMPERATURES]
                compare_go = ui.button("text.compare_go")
            with ui.on_lang(gr.Accordion(s("text.next", ui.lang), open=True),
                            lambda lg: {"label": s("text.next", lg)}):
                ui.md("text.formula")
                chart = ui.add(gr.BarPlot, "text.chart", x="token", y="p", color="status", height=280,
                               color_map={s("text.kept", lg): "#f97316" for lg in ("zh", "en")}
                               | {s("text.cut", lg): "#cbd5e1" for lg in ("zh", "en")}, y_lim=[0, None])
                table = ui.add(gr.Dataframe, "text.table", interactive=False, wrap=True)
                show = ui.button("text.show_next")
    knobs = [temperature, top_k, top_p, penalty]
    go.click(generate_text, [prompt, model, temperature, top_k, top_p, max_new, penalty, seed, lang],
             [output, used_seed, notices], api_name="generate_text", concurrency_id=GPU, show_progress_on=[notices])
    compare_go.click(compare, [prompt, model, top_k, top_p, max_new, seed, lang], [*columns, notices],
                     api_name="compare_temperatures", concurrency_id=GPU, show_progress_on=[notices])
    dist_inputs = [prompt, model, *knobs, lang]
    show.click(token_distribution, dist_inputs, [chart, table], api_name="token_distribution", concurrency_id=GPU)
    # Dragging a knob redraws the bars at once: a teacher shows the distribution flattening and sharpening.
    for knob in knobs:
        knob.change(token_distribution, dist_inputs, [chart, table], api_visibility="private",
                     concurrency_id=GPU, show_progress="hidden", trigger_mode="always_last")
    preset.change(apply_preset, [preset, temperature, top_p, top_k], [temperature, top_p, top_k],
                  api_visibility="private", queue=False)
    model.change(model_defaults, [model, lang], [temperature, top_k, top_p, max_new, penalty],
                 api_visibility="private")
