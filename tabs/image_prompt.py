"""文生图 · 提示词构建器 (the course's formula as clickable chips) and the 翻译 / 扩写 helper."""
import gradio as gr

from studio import api, prompts

from .ui import GPU, UI, guarded, notices_md, s


@guarded
def assemble(*args):
    *picked, out_lang, lang = args
    keys = [section["key"] for section in prompts.sections()]
    return api.build_prompt(dict(zip(keys, picked)), lang=out_lang)


@guarded
def translate(text, task, lang):
    r = api.translate_prompt(text, task, lang=lang)
    method = s("prompt.method_dictionary", lang) if r["method"] == "dictionary" else r["method"]
    return r["prompt"], notices_md([s("prompt.method", lang, method=method), *r["notices"]])


def build(ui: UI, lang: gr.State, prompt: gr.Textbox, notices: gr.Markdown) -> None:
    with ui.on_lang(gr.Accordion(s("prompt.builder", ui.lang), open=False), lambda lg: {"label": s("prompt.builder", lg)}):
        chips = []
        for section in prompts.sections():
            label = f"{section['zh']} · {section['en']}"
            chips.append(gr.CheckboxGroup([zh for zh, _en in section["terms"]], label=label))
        with gr.Row():
            out_lang = ui.add(gr.Radio, "prompt.out_lang", choices=[("English", "en"), ("中文", "zh")], value="en")
            put = ui.button("prompt.assemble", variant="secondary")
        with gr.Row():
            to_english = ui.button("prompt.translate", size="sm")
            expand = ui.button("prompt.expand", size="sm")
    put.click(assemble, [*chips, out_lang, lang], prompt, api_visibility="private", queue=False)
    to_english.click(lambda text, lg: translate(text, "translate", lg), [prompt, lang], [prompt, notices],
                     api_visibility="private", concurrency_id=GPU)
    expand.click(lambda text, lg: translate(text, "expand", lg), [prompt, lang], [prompt, notices],
                 api_visibility="private", concurrency_id=GPU)
