"""文生图 · 提示词构建器 (the course's formula as clickable chips) and the 翻译 / 扩写 helper."""
import gradio as gr

from studio import api
from studio.api.web import prompt_sections

from . import mini_limits
from .ui import GPU, UI, guarded, notices_md, s


@guarded
def assemble(*args):
    *picked, out_lang, lang = args
    keys = [section["key"] for section in prompt_sections()]
    return api.build_prompt(dict(zip(keys, picked)), lang=out_lang)


@guarded
def assemble_for(model, *args):
    """For mini-shapes, its own words first (one training caption), then the general library's; for any other model
    the general library's alone (the mini chips are hidden)."""
    mini, (*general, out_lang, lang) = args[:len(mini_limits.CHIP_KEYS)], args[len(mini_limits.CHIP_KEYS):]
    parts = [mini_limits.describe(*mini, out_lang) if model == mini_limits.MINI_IMAGE else "",
             assemble(*general, out_lang, lang)]
    return ", ".join(p for p in parts if p)


def library_chips(section: dict, lang: str) -> list[tuple[str, str]]:
    """A library section's chips: (the term in `lang`, its Chinese term)."""
    return [(zh if lang == "zh" else en, zh) for zh, en in section["terms"]]


def mini_visible(model) -> dict:
    """mini-shapes' own chips, shown while it is the model."""
    return gr.update(visible=model == mini_limits.MINI_IMAGE)


@guarded
def translate(text, task, lang):
    r = api.translate_prompt(text, task, lang=lang)
    method = s("prompt.method_dictionary", lang) if r["method"] == "dictionary" else r["method"]
    return r["prompt"], notices_md([s("prompt.method", lang, method=method), *r["notices"]])


def build(ui: UI, lang: gr.State, prompt: gr.Textbox, notices: gr.Markdown, model: gr.Dropdown | None = None) -> None:
    with ui.on_lang(gr.Accordion(s("prompt.builder", ui.lang), open=False),
                    lambda lg: {"label": s("prompt.builder", lg)}):
        with gr.Group(visible=model is None or model.value == mini_limits.MINI_IMAGE) as mini_box:
            ui.md("limits.chips")
            mini_chips = [ui.add(gr.Radio, f"limits.chips.{key}", choices=choices, value=None)
                          for key, choices in mini_limits.shape_chips(ui.lang)]
            for i, chip in enumerate(mini_chips):
                ui.on_lang(chip, lambda lg, i=i: {"choices": mini_limits.shape_chips(lg)[i][1]})
            clear_mini = ui.button("limits.chips.clear", size="sm")
        ui.md("limits.library")
        chips = []
        for section in prompt_sections():  # each chip's value is its Chinese term (the library's key)
            chips.append(ui.on_lang(gr.CheckboxGroup(library_chips(section, ui.lang), label=section[ui.lang]),
                                    lambda lg, sec=section: {"choices": library_chips(sec, lg), "label": sec[lg]}))
        with gr.Row():
            out_lang = ui.add(gr.Radio, "prompt.out_lang", choices=[("English", "en"), ("中文", "zh")], value="en",
                              elem_classes="studio-lang-names")
            put = ui.button("prompt.assemble", variant="secondary")
        with gr.Row():
            to_english = ui.button("prompt.translate", size="sm")
            expand = ui.button("prompt.expand", size="sm")
    if model is None:
        put.click(assemble, [*chips, out_lang, lang], prompt, api_visibility="private", queue=False)
    else:
        put.click(assemble_for, [model, *mini_chips, *chips, out_lang, lang], prompt, api_visibility="private",
                  queue=False)
        model.change(mini_visible, model, mini_box, api_visibility="private", queue=False)
    clear_mini.click(lambda: [None] * len(mini_chips), None, mini_chips, api_visibility="private", queue=False)
    to_english.click(lambda text, lg: translate(text, "translate", lg), [prompt, lang], [prompt, notices],
                     api_visibility="private", concurrency_id=GPU)
    expand.click(lambda text, lg: translate(text, "expand", lg), [prompt, lang], [prompt, notices],
                 api_visibility="private", concurrency_id=GPU)
