"""音乐生成: the course's two approaches. Symbolic (mini-melody, offline): 风格 (genre, region), 结构 (meter, mode,
bars) and 表现 (tempo, instrument, velocity) -> notes, sound, a piano roll, ABC and MIDI; audio (MusicGen): a text
description -> sound. Sampling with the text tab's knobs; the next-note probability view; stop; 查看代码; 原理."""
import gradio as gr
import pandas as pd

from studio import api
from studio.api.web import MAX_SEED, number, piano_roll, speech_picture
from studio.music.knobs import KNOBS

from . import mywork
from .runner import Stops, run, work
from .ui import GPU, UI, Page, guarded, notices_md, s


stops = Stops("music")
LABELS = ("genre", "region", "meter", "mode")


def _symbolic(model: str) -> bool:
    return api.music_choices(model)["symbolic"]


def _labels(values: dict) -> dict:
    """The dropdowns' values: "" (任意) is no condition."""
    return {k: (v or None) for k, v in values.items()}


def _controls(prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, duration, guidance,
              melody_audio) -> tuple[str, dict]:
    """(prompt, values) with only the controls `model` has (the page hides the others): a symbolic model's labels,
    form and 表现 without a prompt, or an audio model's description, duration and tune; guidance for both."""
    if _symbolic(model):
        return "", dict(**_labels(dict(genre=genre, region=region, meter=meter, mode=mode)), bars=bars,
                        tempo=tempo, instrument=instrument, velocity=velocity, guidance=guidance)
    return prompt, dict(duration=duration, guidance=guidance,
                        melody_audio=melody_audio if api.music_choices(model)["melody_guide"] else None)


@guarded
async def generate_music(prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, temperature,
                         top_k, top_p, duration, guidance, seed, melody_audio=None, lang="zh",
                         request: gr.Request = None):
    """Async over tabs.runner.run: a cancel (or a closed page) stops the run before its next token."""
    symbolic = _symbolic(model)
    prompt, values = _controls(prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, duration,
                               guidance, melody_audio)

    def call(stop, _progress):  # the picture too, off the server's event loop
        r = api.generate_music(prompt, model, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                               lang=lang, stop=stop, **values)
        return r, _picture(r)

    job = stops.start(request, lang=lang, model=model, work=work(bars if symbolic else duration, 24 if symbolic
                                                                 else 50))
    r, picture = await run(job, call)
    mywork.stash(request, [(r.path, ""), (r.midi, "MIDI")], kind="music", prompt=prompt or _title(r, lang),
                 seed=r.seed)
    audio = str(r.path) if r.path else (r.sample_rate, r.audio)
    note_slider = gr.update(maximum=max(1, len(r.notes or [])), value=1, visible=bool(r.notes))
    return (audio, picture, str(r.seed), notices_md(r.notices), r.abc or "", str(r.midi) if r.midi else None,
            explain(r, lang), note_slider)


def _title(r, lang: str) -> str:
    return s("music.melody_title", lang, bars=len({n.bar for n in r.notes}), meter=r.meter) if r.notes else ""


def _picture(r):
    return piano_roll(r.notes, r.meter) if r.notes else speech_picture(r.audio, r.sample_rate)


def explain(r, lang: str) -> str:
    """原理 with the learner's own result: what the model wrote (notes or audio tokens) and what made the sound."""
    seconds = len(r.audio) / r.sample_rate
    if r.notes:
        bars = len({n.bar for n in r.notes})
        sounding = sum(n.pitch is not None for n in r.notes)
        return s("music.explain_melody", lang, notes=sounding, rests=len(r.notes) - sounding, bars=bars,
                 meter=r.meter, seconds=f"{seconds:.1f}", samples=len(r.audio), rate=r.sample_rate)
    frames = round(seconds * 50)
    return s("music.explain_audio", lang, seconds=f"{seconds:.1f}", frames=frames, tokens=frames * 4,
             samples=len(r.audio), rate=r.sample_rate)


def stop_run(request: gr.Request):
    stops.stop(request)


@guarded
def next_note(model, genre, region, meter, mode, bars, temperature, top_k, top_p, used_seed, index, guidance=3.0,
              lang="zh"):
    """The probabilities the model gave each pitch for note `index` of the melody just made (the same seed and
    settings make the same melody), after temperature / top-k / top-p, as sampling drew from them."""
    if not str(used_seed or "").strip() or not _symbolic(model):
        return gr.update(), gr.update()
    seed = number("used_seed", str(used_seed), 0, MAX_SEED, int)
    view = api.melody_next_note(model, int(index) - 1, **_labels(dict(genre=genre, region=region, meter=meter,
                                                                       mode=mode)),
                                bars=bars, temperature=temperature, top_k=top_k, top_p=top_p, guidance=guidance,
                                seed=seed, lang=lang)
    status = {True: s("music.chosen", lang), False: s("music.other", lang)}
    rows = view["candidates"]
    chart = pd.DataFrame({"note": [c["name"] for c in rows], "p": [c["p_final"] for c in rows],
                          "which": [status[c["chosen"]] for c in rows]})
    return chart, piano_roll(view["notes"], view["meter"], highlight=view["index"])


@guarded
def export_code(prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, temperature, top_k,
                top_p, duration, guidance, seed, used_seed, melody_audio=None, lang="zh"):
    """The script for the current controls; seed -1 shows the last run's seed, so the code makes that piece."""
    if str(seed).strip() in ("", "-1") and str(used_seed or "").strip():
        seed = number("used_seed", str(used_seed), 0, MAX_SEED, int)
    prompt, values = _controls(prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, duration,
                               guidance, melody_audio)
    return api.music_code(prompt, model, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, lang=lang,
                          **values)


def choices(model, lang):
    """The dropdowns and the visible controls for `model`: a symbolic model's labels, or an audio model's."""
    d = api.model_defaults(model)
    symbolic = _symbolic(model)
    drops = [gr.update(choices=label_choices(k, lang, model), value="") for k in LABELS] if symbolic \
        else [gr.update()] * len(LABELS)
    guide = api.music_choices(model, lang)["melody_guide"]
    return (*drops, gr.update(visible=symbolic), gr.update(visible=not symbolic), gr.update(visible=guide),
            d["temperature"], d["top_k"], d["top_p"])


def label_choices(name: str, lang: str, model: str = "mini-melody") -> list[tuple[str, str]]:
    return [(s("music.any", lang), "")] + api.music_choices(model, lang)[name]


def chart_titles(lang: str) -> dict:
    note, p, status = s("music.chart_axes", lang).split("|")
    return {"x_title": note, "y_title": p, "color_title": status}


def build(ui: UI, page: Page) -> None:
    lang = page.lang
    d = api.model_defaults("mini-melody")
    c = api.music_choices("mini-melody", ui.lang)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model = ui.model_picker("music.model", "music", "mini-melody")
            with gr.Column(visible=False) as audio_box:  # an audio model's controls (MusicGen)
                prompt = ui.add(gr.Textbox, "music.prompt", lines=2,
                                value="calm traditional Chinese guzheng melody, slow tempo")
                duration = ui.knob("music.duration", KNOBS["duration"], value=8)
                tune = ui.add(gr.Audio, "music.melody_audio", sources=["upload"], type="filepath")
            with gr.Row():  # beside the prompt (issue 36)
                go = ui.button("music.generate", variant="primary", scale=2)
                stop = ui.button("music.stop", variant="stop", scale=1)
                show_code = ui.button("music.show_code", scale=1)
            with gr.Column() as melody_box:  # a symbolic model's controls: the course's 风格, 结构 and 表现
                # allow_custom_value: an API caller's 羽 (or an unknown value) reaches studio.music.api's own check
                ui.md("music.style")
                with gr.Row():
                    genre = ui.add(gr.Dropdown, "music.genre", choices=label_choices("genre", ui.lang), value="",
                                  allow_custom_value=True)
                    region = ui.add(gr.Dropdown, "music.region", choices=label_choices("region", ui.lang), value="",
                                  allow_custom_value=True)
                ui.md("music.structure")
                with gr.Row():
                    meter = ui.add(gr.Dropdown, "music.meter", choices=label_choices("meter", ui.lang), value="",
                                  allow_custom_value=True)
                    mode = ui.add(gr.Dropdown, "music.mode", choices=label_choices("mode", ui.lang), value="",
                                  allow_custom_value=True)
                bars = ui.knob("music.bars", KNOBS["bars"], value=d["bars"])
                ui.md("music.performance")
                with gr.Row():
                    tempo = ui.knob("music.tempo", KNOBS["tempo"], value=d["tempo"])
                    velocity = ui.knob("music.velocity", KNOBS["velocity"], value=d["velocity"])
                instrument = ui.add(gr.Radio, "music.instrument", choices=c["instrument"], value=d["instrument"])
                ui.on_lang(instrument, lambda lg: {"choices": api.music_choices("mini-melody", lg)["instrument"]})
            ui.md("music.sampling")
            with gr.Row():  # guidance: over mini-melody's labels, or over MusicGen's description
                temperature = ui.knob("music.temperature", KNOBS["temperature"], value=d["temperature"])
                guidance = ui.knob("music.guidance", KNOBS["guidance"], value=d["guidance"])
            with gr.Row():
                top_k = ui.knob("music.top_k", KNOBS["top_k"], value=d["top_k"])
                top_p = ui.knob("music.top_p", KNOBS["top_p"], value=d["top_p"])
            seed = ui.add(gr.Number, "music.seed", value=-1, precision=0)
        with gr.Column(scale=5, elem_classes="studio-result"):
            notices = gr.Markdown(min_height=48, elem_classes="studio-notices")
            audio = ui.add(gr.Audio, "music.output", interactive=False, elem_classes="studio-main-result")
            picture = ui.add(gr.Image, "music.roll", interactive=False, type="pil", height=300)
            with gr.Row():
                used_seed = ui.add(gr.Textbox, "music.used_seed", interactive=False)
                midi = ui.add(gr.File, "music.midi", interactive=False)
            abc = ui.add(gr.Textbox, "music.abc", lines=6, interactive=False, elem_classes="studio-free")
            code = ui.add(gr.Code, "music.code", language="python", visible=False)
            with ui.on_lang(gr.Accordion(s("music.next", ui.lang), open=False),
                            lambda lg: {"label": s("music.next", lg)}):
                ui.md("music.next_intro")
                with gr.Row(equal_height=True):
                    index = ui.add(gr.Slider, "music.index", minimum=1, maximum=48, step=1, value=1, scale=3)
                    show_next = ui.button("music.show_next", scale=1)
                chart = ui.add(gr.BarPlot, "music.chart", x="note", y="p", color="which", height=260, sort="-y",
                               color_map={s("music.chosen", lg): "#f97316" for lg in ("zh", "en")}
                               | {s("music.other", lg): "#cbd5e1" for lg in ("zh", "en")}, y_lim=[0, None],
                               **chart_titles(ui.lang))
                ui.on_lang(chart, chart_titles)
                highlighted = ui.add(gr.Image, "music.highlight", interactive=False, type="pil", height=260)
                # its bars are named in the language they were drawn in: a switch clears them (show them again)
                ui.on_switch(lambda _lang: (None, None), [], [chart, highlighted])
            with ui.on_lang(gr.Accordion(s("music.explain", ui.lang), open=False),
                            lambda lg: {"label": s("music.explain", lg)}):
                ui.md("music.explain_intro")
                yours = gr.Markdown()
    inputs = [prompt, model, genre, region, meter, mode, bars, tempo, instrument, velocity, temperature, top_k, top_p,
              duration, guidance, seed, tune, lang]
    ui.on_saved(go.click(generate_music, inputs, [audio, picture, used_seed, notices, abc, midi, yours, index],
                         api_name="generate_music", concurrency_id=GPU, show_progress_on=[notices]))
    stop.click(stop_run, None, None, api_name="stop_music", queue=False)
    show_next.click(next_note, [model, genre, region, meter, mode, bars, temperature, top_k, top_p, used_seed, index,
                                guidance, lang], [chart, highlighted], api_name="melody_next_note",
                    concurrency_id=GPU)
    show_code.click(export_code, inputs[:-2] + [used_seed, tune, lang], code, api_name="music_code",
                    concurrency_limit=None) \
        .success(lambda: gr.update(visible=True), None, code, queue=False, api_visibility="private")
    for name, drop in zip(LABELS, (genre, region, meter, mode)):  # the values' names in the page's language
        ui.on_lang(drop, lambda lg, name=name: {"choices": label_choices(name, lg)})
    model.change(choices, [model, lang], [genre, region, meter, mode, melody_box, audio_box, tune, temperature, top_k,
                                          top_p], api_visibility="private")
