"""语音合成: ChatTTS with its prosody controls, eSpeak NG offline, the course's experiments and 原理."""
import random

import gradio as gr

from studio import api
from studio.api.web import ESPEAK_RATES, PROSODY_SETTINGS, VOICES, find_local, speech_picture
from studio.core.registry import CARDS
from studio.speech.knobs import KNOBS

from . import mywork
from .runner import Stops, run, work
from .ui import GPU, UI, Page, guarded, notices_md, s


stops = Stops("speech")

WORD_TOKENS = ("[uv_break]", "[laugh]", "[lbreak]")
# Insert at the textarea's cursor (the page knows it, the server does not); at the end when it has none.
INSERT_JS = """(text) => {{
  const box = document.querySelector('#speech_text textarea');
  const at = box && box.selectionStart != null ? box.selectionStart : text.length;
  const end = box && box.selectionEnd != null ? box.selectionEnd : text.length;
  return text.slice(0, at) + '{token}' + text.slice(end);
}}"""


def default_engine() -> str:
    """ChatTTS when its weights are here, else the offline voice."""
    return "chattts" if find_local(CARDS["chattts"]) is not None else "espeak"


def _controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch, volume):
    return dict(refine=refine, oral=oral, laugh=laugh, pause=pause, speed=speed, temperature=temperature,
                top_p=top_p, top_k=top_k, speaker=speaker, voice=voice, rate=rate, pitch=pitch, volume=volume)


def _audio(result):
    return str(result.path) if result.path else (result.sample_rate, result.audio)


@guarded
async def synthesize_speech(text, model, seed, text_seed, refine, oral, laugh, pause, speed, temperature, top_p,
                            top_k, speaker, voice, rate, pitch, volume, lang="zh", request: gr.Request = None):
    controls = _controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch,
                         volume)

    def call(stop, _progress):  # the phonemes and the picture too, off the server's event loop
        r = api.synthesize_speech(text, model, seed, text_seed=text_seed, lang=lang, stop=stop, **controls)
        middle = r.refined_text if r.refined_text is not None else _phonemes(text, model, voice)
        return r, middle, speech_picture(r.audio, r.sample_rate)

    job = stops.start(request, lang=lang, model=model, work=work(text))
    r, middle, view = await run(job, call)
    seeds = f"{r.seed} / {r.text_seed}" if model != "espeak" else "-"
    mywork.stash(request, [(r.path, "")], kind="speech", prompt=text, seed=r.seed if model != "espeak" else None)
    return (_audio(r), seeds, r.speaker or "", middle, view, notices_md(r.notices))


def _phonemes(text, model, voice) -> str:
    return api.espeak_phonemes(text, voice) if model == "espeak" else ""


@guarded
async def prosody(text, model, seed, text_seed, refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker,
                  voice, rate, pitch, volume, lang="zh", request: gr.Request = None):
    controls = _controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch,
                         volume)
    for key in ("refine", "oral", "laugh", "pause", "rate"):  # the experiment sets these itself
        controls.pop(key)
    job = stops.start(request, lang=lang, model=model, work=work(text, 3))
    results = await run(job, lambda stop, _progress: api.prosody_comparison(
        text, model, seed, text_seed=text_seed, lang=lang, stop=stop, **controls))
    mywork.stash(request, [(r.path, label) for r, label in zip(results, _prosody_labels(model))],
                 kind="speech.prosody", prompt=text, seed=results[0].seed if model != "espeak" else None)
    return (*[_audio(r) for r in results], notices_md(results[0].notices))


def _prosody_labels(model) -> list[str]:
    """What each of the three takes changes (studio.speech.api's settings), for 我的作品."""
    if model == "espeak":
        return [f"rate {r}" for r in ESPEAK_RATES]
    return [f"oral {o} laugh {la} break {b}" for o, la, b in PROSODY_SETTINGS]


@guarded
async def fixed(text, second, model, seed, refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker,
                voice, rate, pitch, volume, lang="zh", request: gr.Request = None):
    controls = _controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch,
                         volume)
    job = stops.start(request, lang=lang, model=model, work=work(f"{text}{second}"))
    results = await run(job, lambda stop, _progress: api.fixed_voice(
        [text, second], model, seed, lang=lang, stop=stop, **controls))
    said = [line for line in (text, second) if str(line or "").strip()]  # one result each, in order
    voice = results[0].seed if model != "espeak" else None
    mywork.stash(request, [(r.path, "", line, voice) for r, line in zip(results, said)], kind="speech.fixed")
    return (*[_audio(r) for r in results], notices_md(results[0].notices))


@guarded
async def dialogue(script, model, seed, seed_b, refine, oral, laugh, pause, speed, temperature, top_p, top_k,
                   speaker, voice, rate, pitch, volume, lang="zh", request: gr.Request = None):
    controls = _controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch,
                         volume)
    controls.pop("speaker")  # two voices: one from each seed
    job = stops.start(request, lang=lang, model=model, work=work(script))
    r = await run(job, lambda stop, _progress: api.dialogue(
        script, model, seed, seed_b, lang=lang, stop=stop, **controls))
    mywork.stash(request, [(r.path, "")], kind="speech.dialogue", prompt=script)
    return _audio(r), notices_md(r.notices)


@guarded
def speech_code(text, model, seed, text_seed, used, refine, oral, laugh, pause, speed, temperature, top_p, top_k,
                speaker, voice, rate, pitch, volume, lang="zh"):
    """The script for the current controls; seeds of -1 take the last run's, so the code makes that audio."""
    if "/" in str(used):
        last_voice, last_text = (int(x) for x in str(used).split("/"))
        seed = last_voice if int(seed) < 0 else seed
        text_seed = last_text if int(text_seed) < 0 else text_seed
    return api.speech_code(text, model, seed, text_seed=text_seed, lang=lang,
                           **_controls(refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice,
                                       rate, pitch, volume))


def engine_groups(model):
    """ChatTTS's controls (and its voice string) or eSpeak's, never both: a control must act on the engine."""
    chattts = model != "espeak"
    return gr.update(visible=chattts), gr.update(visible=chattts), gr.update(visible=not chattts)


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    engine = default_engine()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("speech.model", "speech", engine)
            text = ui.add(gr.Textbox, "speech.text", lines=4, elem_id="speech_text",
                          value="大家好，欢迎来到 AIGC 创作工坊。今天我们一起体验语音合成。")
            with gr.Row():  # beside the text (issue 36)
                go = ui.button("speech.go", variant="primary", scale=2)
                show_code = ui.button("speech.show_code", scale=1)
            with gr.Row():
                ui.md("speech.insert")
                inserts = [gr.Button(token, size="sm") for token in WORD_TOKENS]
            with gr.Group(visible=engine != "espeak") as chattts_box:
                ui.md("speech.chattts")
                with gr.Row(equal_height=True):
                    seed = ui.add(gr.Number, "speech.seed", value=2, precision=0, scale=4)
                    seed_dice = ui.button("speech.dice", scale=1, min_width=60)
                    text_seed = ui.add(gr.Number, "speech.text_seed", value=42, precision=0, scale=4)
                    text_dice = ui.button("speech.dice", scale=1, min_width=60)
                refine = ui.add(gr.Checkbox, "speech.refine", value=True)
                with gr.Row():
                    oral = ui.knob("speech.oral", KNOBS["oral"], value=2)
                    laugh = ui.knob("speech.laugh", KNOBS["laugh"], value=0)
                    pause = ui.knob("speech.break", KNOBS["break"], value=6)
                with gr.Row():
                    speed = ui.knob("speech.speed", KNOBS["speed"], value=5)
                    temperature = ui.knob("speech.temperature", KNOBS["temperature"], value=0.3)
                with gr.Row():
                    top_p = ui.knob("speech.top_p", KNOBS["top_p"], value=0.7)
                    top_k = ui.knob("speech.top_k", KNOBS["top_k"], value=20)
                speaker = ui.add(gr.Textbox, "speech.speaker", lines=2, max_lines=3)
            with gr.Group(visible=engine == "espeak") as espeak_box:
                ui.md("speech.espeak")
                voice = ui.add(gr.Dropdown, "speech.voice", choices=[(f"{k} · {v}", k) for k, v in VOICES.items()],
                               value="cmn")
                with gr.Row():
                    rate = ui.knob("speech.rate", KNOBS["rate"], value=175)
                    pitch = ui.knob("speech.pitch", KNOBS["pitch"], value=50)
                    volume = ui.knob("speech.volume", KNOBS["volume"], value=100)
        with gr.Column(scale=5, elem_classes="studio-result"):  # stays in view while the controls scroll
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            audio = ui.add(gr.Audio, "speech.audio", type="filepath", interactive=False,
                           elem_classes="studio-main-result")
            used = ui.add(gr.Textbox, "speech.used_seed", interactive=False)
            speaker_out = ui.add(gr.Textbox, "speech.speaker_out", lines=2, max_lines=3, interactive=False,
                                 buttons=["copy"], visible=engine != "espeak")
            code = ui.add(gr.Code, "speech.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("speech.explain", ui.lang), open=True),
                            lambda lg: {"label": s("speech.explain", lg)}):
                ui.md("speech.explain_intro")
                middle = ui.add(gr.Textbox, "speech.phonemes", lines=2, interactive=False)
                view = ui.add(gr.Image, "speech.view", interactive=False, type="pil")
            with ui.on_lang(gr.Accordion(s("speech.presets", ui.lang), open=False),
                            lambda lg: {"label": s("speech.presets", lg)}):
                ui.md("speech.prosody")
                with gr.Row():
                    compared = [gr.Audio(label=name, type="filepath", interactive=False) for name in ("1", "2", "3")]
                prosody_go = ui.button("speech.prosody_go")
                ui.md("speech.fixed")
                second = ui.add(gr.Textbox, "speech.fixed_second", value="同一个音色，换一句话，听起来还是同一个人。")
                with gr.Row():
                    same = [gr.Audio(label=name, type="filepath", interactive=False) for name in ("1", "2")]
                fixed_go = ui.button("speech.fixed_go")
                ui.md("speech.dialogue")
                script = ui.add(gr.Textbox, "speech.script", lines=4,
                                value="A: 你好，今天学什么？\nB: 今天学语音合成。\nA: 太好了，我们开始吧！")
                seed_b = ui.add(gr.Number, "speech.seed_b", value=7, precision=0)
                dialogue_audio = gr.Audio(type="filepath", interactive=False, show_label=False)
                dialogue_go = ui.button("speech.dialogue_go")
    controls = [refine, oral, laugh, pause, speed, temperature, top_p, top_k, speaker, voice, rate, pitch, volume]
    ui.on_saved(go.click(synthesize_speech, [text, model, seed, text_seed, *controls, lang],
                         [audio, used, speaker_out, middle, view, notices], api_name="synthesize_speech",
                         concurrency_id=GPU, show_progress_on=[notices]))
    show_code.click(speech_code, [text, model, seed, text_seed, used, *controls, lang], code, api_name="speech_code",
                    concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False, api_visibility="private")
    for button, token in zip(inserts, WORD_TOKENS):
        button.click(None, text, text, js=INSERT_JS.format(token=token))
    seed_dice.click(lambda: random.randint(0, 99999), None, seed, api_visibility="private", queue=False)
    text_dice.click(lambda: random.randint(0, 99999), None, text_seed, api_visibility="private", queue=False)
    model.change(engine_groups, model, [chattts_box, speaker_out, espeak_box], api_visibility="private", queue=False)
    ui.on_saved(prosody_go.click(prosody, [text, model, seed, text_seed, *controls, lang], [*compared, notices],
                                 api_name="prosody_comparison", concurrency_id=GPU, show_progress_on=[notices]))
    ui.on_saved(fixed_go.click(fixed, [text, second, model, seed, *controls, lang], [*same, notices],
                               api_name="fixed_voice", concurrency_id=GPU, show_progress_on=[notices]))
    ui.on_saved(dialogue_go.click(dialogue, [script, model, seed, seed_b, *controls, lang], [dialogue_audio, notices],
                                  api_name="dialogue", concurrency_id=GPU, show_progress_on=[notices]))
