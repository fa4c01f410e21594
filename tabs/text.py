"""文本生成: sampling knobs -> text (streamed, stoppable), multi-turn chat, the course's prompt patterns, the
temperature experiment and the next-token view (tabs/text_next.py)."""
import gradio as gr

from studio import api
from studio.api.web import MAX_SEED, human_bytes, number, t
from studio.text.knobs import KNOBS

from . import chat_text, text_next, text_templates
from .runner import Stops, run, stream, work
from .ui import GPU, UI, Page, guarded, notices_md, s


# The course's presets (module 5): (temperature, top_p, top_k); None keeps the current value.
PRESETS = {"creative": (1.0, 0.9, 40), "code": (0.1, 0.95, 20), "qa": (0.2, None, None)}
MODES = ("single", "chat")
stops = Stops("text")


def preset_choices(lang: str) -> list[tuple[str, str]]:
    return list(zip(s("text.presets", lang).split("|"), ["", *PRESETS]))


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return list(zip(s("text.modes", lang).split("|"), MODES))


def _with_stop_notice(notices: list[str], stopped: bool, lang: str) -> str:
    return notices_md(notices + ([t("notice_stopped_text", lang)] if stopped else []))


async def _results(request: gr.Request | None, texts, progress: gr.Progress | None, **job):
    """(TextResult, None) as texts(stop) makes them (api.stream_text / stream_chat), then (the last one, whether
    停止 ended it). `job`: its description for the scheduler (tabs.runner.Stops.start); `progress` shows the
    learner's place in line while the job waits.

    Over tabs.runner.stream, as 文生图: the generation runs in a worker thread in its turns on the device, and a
    cancel or a closed page lands at once and sets `stop`, which the decode loop reads: the run ends at its next
    token. (As a sync generator, a cancelled run was only closed at its next token and ran on beside the next job;
    chat's and the experiment's ran to their last token.)"""
    def call(preview, stop, _progress):
        last = None
        for last in texts(stop):
            preview(last)
        return last

    stop = stops.start(request, **job)
    async for kind, value in stream(call, stop, progress):
        yield (value[0], None) if kind == "preview" else (value, stop.is_set())


def _notices(r, stopped: bool | None, lang: str) -> str:
    return notices_md(r.notices) if stopped is None else _with_stop_notice(r.notices, stopped, lang)


@guarded
async def generate_text(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
                        lang="zh", request: gr.Request = None, progress=gr.Progress()):
    """Streams the text token by token; 停止 ends this browser's run and keeps what was made."""
    async for r, stopped in _results(request, lambda stop: api.stream_text(
            prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, stop=stop, lang=lang),
            progress, lang=lang, model=model, work=work(max_new_tokens)):
        shown = r.text if r.chat else prompt + r.text  # a base model continues the prompt
        yield shown, str(r.seed), _notices(r, stopped, lang)


def _plain(message: dict) -> dict:
    """A Chatbot message as {"role", "content": str} as typed (Gradio may hand content over as a list of parts;
    the page holds a display copy, tabs/chat_text.py)."""
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return {"role": message.get("role"), "content": chat_text.typed("" if content is None else str(content))}


def _shown(messages: list[dict]) -> list[dict]:
    return [{**m, "content": chat_text.shown(m["content"])} for m in messages]


@guarded
async def chat(message, history, system, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
               lang="zh", request: gr.Request = None, progress=gr.Progress()):
    """One more turn of the conversation (the course's 继续追问优化); the message box empties once it is sent."""
    history = [_plain(m) for m in history or []]
    head = [{"role": "system", "content": system}] if system and system.strip() else []
    asked = [*history, {"role": "user", "content": message or ""}]
    # Loading or refusing happens before the first result: the page changes only once the answer begins.
    async for r, stopped in _results(request, lambda stop: api.stream_chat(
            [*head, *history, {"role": "user", "content": message or ""}], model, temperature, top_k, top_p,
            max_new_tokens, repetition_penalty, seed, stop=stop, lang=lang),
            progress, lang=lang, model=model, work=work(max_new_tokens)):
        yield _shown([*asked, {"role": "assistant", "content": r.text}]), "", str(r.seed), _notices(r, stopped, lang)


def stop_run(request: gr.Request):
    stops.stop(request)


@guarded
def export_code(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, used_seed,
                lang="zh"):
    """The script for the current controls; seed -1 shows the seed of the last run, so the code makes that text."""
    if str(seed).strip() in ("", "-1") and str(used_seed or "").strip():
        seed = number("used_seed", str(used_seed).split(",")[0], 0, MAX_SEED, int)
    return api.export_text_code(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
                                lang=lang)


def token_gauge(prompt, model, max_new_tokens, lang="zh") -> str:
    """Prompt tokens and new tokens against the context window, from the model's own tokenizer."""
    try:
        count = api.count_text_tokens(prompt or "", model)
        new = int(max_new_tokens or 0)
    except Exception:  # a half-typed model name or a folder being copied: no gauge rather than an error
        count = None
    if count is None:
        return f"<small>{s('text.tokens_unknown', lang)}</small>"
    tokens, window = count["tokens"], count["window"]
    new = window // 2 if new >= window else new  # as generation clamps it (with a notice)
    used, extra = min(tokens, window) / window * 100, min(new, max(window - tokens, 0)) / window * 100
    over = tokens + new - window
    label = s("text.tokens", lang, tokens=tokens, window=window, new=new)
    warn = f" · <b style='color:#dc2626'>{s('text.tokens_over', lang, over=over)}</b>" if over > 0 else ""
    return (f"<div style='font-size:0.85em'>{label}{warn}<div style='display:flex;height:8px;background:#e5e7eb;"
            f"border-radius:4px;overflow:hidden;margin-top:4px'><div style='width:{used:.1f}%;background:"
            f"{'#dc2626' if over > 0 else '#f97316'}'></div><div style='width:{extra:.1f}%;background:#fdba74'>"
            f"</div></div></div>")


@guarded
async def compare(prompt, model, top_k, top_p, max_new_tokens, seed, lang, request: gr.Request = None):
    """The course's 0.2 / 0.7 / 1.2 experiment: one seed, three temperatures, side by side (async over
    tabs.runner.run: a cancel, a closed page or 停止 ends it at its next token)."""
    job = stops.start(request, lang=lang, model=model, work=work(max_new_tokens, len(api.COURSE_TEMPERATURES)))
    results = await run(job, lambda stop, _progress: api.compare_temperatures(
        prompt, model, top_k=top_k, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, stop=stop, lang=lang))
    shown = [r.text if r.chat else prompt + r.text for r in results]
    return (*shown, notices_md(results[0].notices))


@guarded
def model_defaults(model, lang):
    d = api.model_defaults(model)
    return d["temperature"], d["top_k"], d["top_p"], d["max_new_tokens"], d["repetition_penalty"]


def model_notice(model, lang="zh") -> str:
    """One notice when a model that is not downloaded is picked (its live views then wait quietly)."""
    if not api.needs_download(model):
        return ""
    card = next(m for m in api.list_models("text", lang) if m["key"] == model.strip())
    return notices_md([t("notice_not_downloaded", lang, model=card["title"], size=human_bytes(card["approx_bytes"]))])


def apply_preset(name, temperature, top_p, top_k):
    if name not in PRESETS:
        return temperature, top_p, top_k
    new = PRESETS[name]
    return tuple(old if value is None else value for value, old in zip(new, (temperature, top_p, top_k)))


def switch_mode(mode):
    """Chat shows the conversation and 发送; single turn the text box, 生成 and 查看代码 (a one-turn script)."""
    chat_mode = mode == "chat"
    shown = lambda visible: gr.update(visible=visible)  # noqa: E731
    # system, conversation, clear, send | output, go, show_code | code (hidden until asked for again)
    return (*[shown(chat_mode)] * 4, *[shown(not chat_mode)] * 3, shown(False))


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    d = api.model_defaults("mini-poem")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("text.model", "text", "mini-poem")
            system = ui.add(gr.Textbox, "text.system", lines=2, visible=False)
            prompt = ui.add(gr.Textbox, "text.prompt", lines=3, value="床前明月光")
            gauge = gr.HTML(token_gauge("床前明月光", "mini-poem", d["max_new_tokens"], ui.lang))
            with gr.Row():  # beside the prompt (issue 36)
                go = ui.button("text.generate", variant="primary", scale=2)
                send = ui.button("text.send", variant="primary", scale=2, visible=False)
                stop = ui.button("text.stop", variant="stop", scale=1)
                show_code = ui.button("text.show_code", scale=1)
            mode = ui.add(gr.Radio, "text.mode", choices=mode_choices(ui.lang), value="single")
            ui.on_lang(mode, lambda lg: {"choices": mode_choices(lg)})
            preset = ui.add(gr.Radio, "text.preset", choices=preset_choices(ui.lang), value="")
            ui.on_lang(preset, lambda lg: {"choices": preset_choices(lg)})
            temperature = ui.knob("text.temperature", KNOBS["temperature"], value=d["temperature"])
            with gr.Row():
                top_k = ui.knob("text.top_k", KNOBS["top_k"], value=d["top_k"])
                top_p = ui.knob("text.top_p", KNOBS["top_p"], value=d["top_p"])
            with gr.Row():
                penalty = ui.knob("text.repetition_penalty", KNOBS["repetition_penalty"], value=d["repetition_penalty"])
                max_new = ui.knob("text.max_new_tokens", KNOBS["max_new_tokens"], value=d["max_new_tokens"])
            seed = ui.add(gr.Number, "text.seed", value=-1, precision=0)
            text_templates.build(ui, lang, prompt, temperature, top_p, top_k)
        with gr.Column(scale=5, elem_classes="studio-result"):  # stays in view while the controls scroll
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            output = ui.add(gr.Textbox, "text.output", lines=8, interactive=False, elem_classes="studio-main-result")
            conversation = ui.add(gr.Chatbot, "text.chatbot", height=360, visible=False,
                                  elem_classes="studio-free")  # what the learner and the model wrote
            clear = ui.button("text.clear", visible=False)
            used_seed = ui.add(gr.Textbox, "text.used_seed", interactive=False)
            code = ui.add(gr.Code, "text.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("text.compare", ui.lang), open=False),
                            lambda lg: {"label": s("text.compare", lg)}):
                ui.md("text.compare_intro")
                with gr.Row():
                    columns = [gr.Textbox(label=f"T = {t}", lines=6, interactive=False)
                               for t in api.COURSE_TEMPERATURES]
                compare_go = ui.button("text.compare_go")
            text_next.build(ui, lang, prompt, model, [temperature, top_k, top_p, penalty])
    knobs = [temperature, top_k, top_p, max_new, penalty, seed]
    go.click(generate_text, [prompt, model, *knobs, lang], [output, used_seed, notices], api_name="generate_text",
             concurrency_id=GPU, show_progress_on=[notices])
    send.click(chat, [prompt, conversation, system, model, *knobs, lang], [conversation, prompt, used_seed, notices],
               api_name="chat", concurrency_id=GPU, show_progress_on=[notices])
    stop.click(stop_run, None, None, api_name="stop_text", queue=False)
    clear.click(lambda: ([], ""), None, [conversation, notices], api_visibility="private", queue=False)
    mode.change(switch_mode, mode, [system, conversation, clear, send, output, go, show_code, code],
                api_visibility="private", queue=False)
    show_code.click(export_code, [prompt, model, *knobs, used_seed, lang], code, api_name="export_text_code",
                    concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False, api_visibility="private")
    for trigger in (prompt.change, model.change, max_new.change):
        trigger(token_gauge, [prompt, model, max_new, lang], gauge, api_visibility="private", queue=False,
                show_progress="hidden", trigger_mode="always_last")
    # The switch sets the lang State without firing its .change: the gauge is redrawn on the switch itself.
    ui.on_switch(lambda lg, p, m, n: token_gauge(p, m, n, lg), [prompt, model, max_new], gauge)
    compare_go.click(compare, [prompt, model, top_k, top_p, max_new, seed, lang], [*columns, notices],
                     api_name="compare_temperatures", concurrency_id=GPU, show_progress_on=[notices])
    preset.change(apply_preset, [preset, temperature, top_p, top_k], [temperature, top_p, top_k],
                  api_visibility="private", queue=False)
    model.change(model_notice, [model, lang], notices, api_visibility="private", queue=False)
    model.change(model_defaults, [model, lang], [temperature, top_k, top_p, max_new, penalty],
                 api_visibility="private")
