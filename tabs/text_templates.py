"""文本生成 · 提示词模板: the course's prompt patterns; fill the fields, read the whole prompt, then use it."""
import gradio as gr

from studio import api
from studio.api.web import MAX_FIELDS

from .ui import UI, guarded, s


def template_choices(lang: str) -> list[tuple[str, str]]:
    return [(t["title"], t["id"]) for t in api.text_templates(lang)]


def _settings_text(settings: dict, lang: str) -> str:
    names = {"temperature": "T", "top_p": "top-p", "top_k": "top-k"}
    return s("text.template_settings", lang, settings=", ".join(f"{names[k]} = {v}" for k, v in settings.items()))


@guarded
def show_template(template_id, lang="zh"):
    """The pattern's note, its field boxes (relabelled, defaults filled, spare ones hidden) and its prompt."""
    d = api.text_template(template_id, lang)
    boxes = [gr.update(visible=True, label=f["label"], value=f["default"], lines=f["lines"]) for f in d["fields"]]
    boxes += [gr.update(visible=False, value="")] * (MAX_FIELDS - len(boxes))
    preview = api.fill_template(template_id, {f["name"]: f["default"] for f in d["fields"]}, lang)
    return (f"{d['note']}  \n{_settings_text(d['settings'], lang)}", *boxes, preview)


@guarded
def switch_template(new_lang, template_id, *values):
    """The pattern in the new language: note, labels, and the defaults of boxes the learner has not changed."""
    d = api.text_template(template_id, new_lang)
    before = api.text_template(template_id, "en" if new_lang == "zh" else "zh")
    kept = [new["default"] if value == old["default"] else value
            for new, old, value in zip(d["fields"], before["fields"], values)]
    boxes = [gr.update(label=f["label"], value=v) for f, v in zip(d["fields"], kept)]
    boxes += [gr.skip()] * (MAX_FIELDS - len(boxes))
    return (f"{d['note']}  \n{_settings_text(d['settings'], new_lang)}", *boxes, fill(template_id, *kept, new_lang))


def fill(template_id, *values_and_lang):
    """The filled prompt, live as the learner types (a missing field shows as the message, not an error)."""
    *values, lang = values_and_lang
    d = api.text_template(template_id, lang)
    try:
        return api.fill_template(template_id, {f["name"]: v for f, v in zip(d["fields"], values)}, lang)
    except api.StudioError as exc:
        return exc.message(lang)


@guarded
def use(template_id, temperature, top_p, top_k, *values_and_lang):
    """Copy the filled prompt into the prompt box and take the pattern's suggested settings."""
    *values, lang = values_and_lang
    d = api.text_template(template_id, lang)
    prompt = api.fill_template(template_id, {f["name"]: v for f, v in zip(d["fields"], values)}, lang)
    st = d["settings"]
    return prompt, st.get("temperature", temperature), st.get("top_p", top_p), st.get("top_k", top_k)


def build(ui: UI, lang: gr.State, prompt, temperature, top_p, top_k) -> None:
    first = api.text_templates(ui.lang)[0]["id"]
    d = api.text_template(first, ui.lang)
    fields = d["fields"] + [None] * (MAX_FIELDS - len(d["fields"]))
    with ui.on_lang(gr.Accordion(s("text.templates", ui.lang), open=False),
                    lambda lg: {"label": s("text.templates", lg)}):
        template = ui.add(gr.Dropdown, "text.template", choices=template_choices(ui.lang), value=first)
        ui.on_lang(template, lambda lg: {"choices": template_choices(lg)})
        note = gr.Markdown(f"{d['note']}  \n{_settings_text(d['settings'], ui.lang)}")
        boxes = [gr.Textbox(label=f["label"], value=f["default"], lines=f["lines"]) if f else gr.Textbox(visible=False)
                 for f in fields]
        preview = ui.add(gr.Textbox, "text.template_preview", lines=6, interactive=False,
                         value=api.fill_template(first, {f["name"]: f["default"] for f in d["fields"]}, ui.lang))
        use_go = ui.button("text.template_use")
    shown = [note, *boxes, preview]
    template.change(show_template, [template, lang], shown, api_visibility="private", queue=False)
    ui.on_switch(switch_template, [template, *boxes], shown)
    for box in boxes:
        box.input(fill, [template, *boxes, lang], preview, api_visibility="private", queue=False)
    use_go.click(use, [template, temperature, top_p, top_k, *boxes, lang], [prompt, temperature, top_p, top_k],
                 api_visibility="private", queue=False)
    return template, shown
