"""音乐生成: the course's two approaches side by side. Symbolic: the built-in mini-melody writes notes (a folk-song
melody), which the studio's synthesiser plays and writes as MIDI and ABC. Audio: MusicGen writes EnCodec audio tokens
from a text description, decoded straight to sound."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from studio.core import aigc_label, validate
from studio.core.backend import routed
from studio.core.calls import PROMPT_CAP, caller_lang, check_stop, task_spec
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.manager import manager
from studio.core.outputs import json_bytes, new_name, output_folder, write_atomic, write_wav
from studio.core.results import MusicResult
from studio.core.specs import ModelSpec
from studio.music.knobs import KNOBS, MELODY_SECONDS, defaults
from studio.music.notes import heard_meter
from studio.text.sampling import Sampling


LABELS = ("meter", "mode", "region", "genre")  # a symbolic model's conditions (the course's 风格 and 结构 controls)
PERFORMANCE = ("tempo", "instrument", "velocity")  # 表现: how the synthesiser plays the notes
RATE = 24000  # the synthesiser's samples per second (plenty for a plucked string's partials)


@dataclass
class MusicJob:
    """Every checked value of one call: what the engine runs and what the sidecar records."""
    model: str
    symbolic: bool  # mini-melody (notes) or an audio model (MusicGen)
    prompt: str
    seed: int
    sampling: Sampling
    labels: dict = field(default_factory=dict)  # meter / mode / region / genre (None = any)
    bars: int = 16
    tempo: int = 90
    instrument: str = "guzheng"
    velocity: int = 90
    duration: float = 8.0
    guidance: float = 3.0
    melody: tuple | None = None  # (samples, rate) of the tune that steers a melody model
    melody_name: str = ""  # its file name, for the sidecar

    def params(self) -> dict:
        """What the JSON sidecar (and 我的作品) records: the values that made this piece."""
        shared = dict(model=self.model, seed=self.seed, temperature=self.sampling.temperature,
                      top_k=self.sampling.top_k, top_p=self.sampling.top_p)
        if self.symbolic:
            return {**shared, **self.labels, "bars": self.bars, "guidance": self.guidance, "tempo": self.tempo,
                    "instrument": self.instrument, "velocity": self.velocity}
        audio = {"prompt": self.prompt, "duration": self.duration, "guidance": self.guidance}
        return {**shared, **audio, **({"melody_audio": self.melody_name or "(audio)"} if self.melody else {})}


@routed("music", finish=lambda result, call: _saved_here(result, call), send=lambda call: _sent_melody(call))
def generate_music(prompt: str = "", model: str = "mini-melody", *, meter: str | None = None, mode: str | None = None,
                   region: str | None = None, genre: str | None = None, bars: int | None = None,
                   tempo: int | None = None, instrument: str | None = None, velocity: int | None = None,
                   temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                   seed: int = -1, duration: float | None = None, guidance: float | None = None,
                   melody_audio=None, save: bool = True, lang: str | None = None,
                   stop: threading.Event | None = None) -> MusicResult:
    """Music from `model`. mini-melody (symbolic): a melody of `bars` bars in the asked meter / mode (宫 商 角 徵 羽)
    / region / genre (None = any), sampled note by note with `guidance` over those labels (classifier-free guidance:
    1 = off, above 1 they act more strongly), temperature / top_k / top_p and the seed, played at
    `tempo` (quarter notes per minute) on `instrument` with `velocity` (1-127); the result has its notes, ABC text
    and a MIDI file; `prompt` and `duration` do not apply (said in a notice). MusicGen (audio): `prompt` describes
    the music, `duration` seconds, `guidance` its classifier-free guidance; the labels and 表现 controls do not apply;
    the melody variant (musicgen-melody) also follows `melody_audio`, a tune to steer it (a WAV file's path, or
    (sample rate, samples) as Gradio gives it; its first 30 s).
    Setting `stop` ends the run before its next token, with nothing saved (StudioError "stopped")."""
    lang = caller_lang(lang)
    spec = task_spec(model, "music")
    notices: list[str] = []
    job = music_job(spec, prompt, seed, lang, notices, meter=meter, mode=mode, region=region, genre=genre, bars=bars,
                    tempo=tempo, instrument=instrument, velocity=velocity, temperature=temperature, top_k=top_k,
                    top_p=top_p, duration=duration, guidance=guidance, melody_audio=melody_audio)
    check_stop(stop)
    if job.symbolic:
        result = manager().run(model, lambda engine: _melody_result(engine, job, stop, notices))
    else:
        result = manager().run(model, lambda engine: _audio_result(engine, job, stop, notices))
    check_stop(stop)
    return _saved(result, job, save, lang)


def music_job(spec: ModelSpec, prompt, seed, lang: str, notices: list[str], **values) -> MusicJob:
    """The call's values checked against the model's kind: a control the model does not have is named in a
    notice (its value is not used), never silently dropped."""
    d = {**defaults(spec), **spec.defaults()}  # model_defaults(), for a spec already resolved
    symbolic = spec.loader == "melody"
    prompt = validate.text("prompt", prompt, PROMPT_CAP).strip()
    pick = lambda name: d[name] if values.get(name) is None else values[name]  # noqa: E731
    sampling = Sampling(KNOBS["temperature"].check(pick("temperature")), KNOBS["top_k"].check(pick("top_k")),
                        KNOBS["top_p"].check(pick("top_p")), 1.0)
    guided = not symbolic and spec.loader == "musicgen" and _steered_by_melody(spec)
    lacks = ("duration", "melody_audio") if symbolic else \
        LABELS + ("bars",) + PERFORMANCE + (() if guided else ("melody_audio",))
    unused = [name for name in lacks if values.get(name) is not None and not _blank(values.get(name))]
    if symbolic and prompt:
        unused.insert(0, "prompt")
    if unused:
        names = "、".join(t(f"music_param_{name}", lang) for name in unused) if lang == "zh" else \
            ", ".join(t(f"music_param_{name}", lang) for name in unused)
        notices.append(t("notice_music_unused", lang, model=spec.title, names=names))
    job = MusicJob(spec.key if spec.card else spec.title, symbolic, prompt, 0, sampling)
    job.guidance = KNOBS["guidance"].check(pick("guidance"))  # over the labels, or over the description
    if symbolic:
        from studio.music import synth
        job.labels = {name: _label(spec, name, values.get(name), lang) for name in LABELS}
        job.bars = _bars(pick("bars"), d)
        job.tempo = KNOBS["tempo"].check(pick("tempo"))
        job.velocity = KNOBS["velocity"].check(pick("velocity"))
        job.instrument = validate.option("instrument", pick("instrument"), list(synth.INSTRUMENTS))
    else:
        if not prompt:
            raise StudioError("music_empty_prompt")
        job.duration = _duration(pick("duration"), d)
        if guided:
            job.melody, job.melody_name = melody_audio(values.get("melody_audio"), lang, notices)
    job.seed = validate.seed(seed, lang, notices)
    return job


def known_labels(spec: ModelSpec) -> dict[str, list[str]]:
    """The label values a melody model was trained with (its labels.json: a retrained model carries its own)."""
    import json

    from studio.music.melody import LABELS_FILE
    if spec.path is None:  # not on disk: loading it says so
        return {name: [] for name in LABELS}
    return json.loads((spec.path / LABELS_FILE).read_text(encoding="utf-8"))


def _label(spec: ModelSpec, name: str, value, lang: str) -> str | None:
    """A label as the model knows it ("羽" -> "yu"), None for any; a value it was not trained with is refused
    here, before the job waits for its turn, with the values it knows."""
    from studio.music import labels
    known = known_labels(spec)[name]
    key = labels.canonical(name, value, known)
    if key is None:
        shown = [shown_label(name, v, lang) for v in known]
        raise StudioError("music_bad_label", field=t(f"music_param_{name}", lang), value=str(value)[:60],
                          choices=", ".join(shown + [labels.ANY_NAMES[lang]]))
    return None if key == labels.ANY else key


def shown_label(name: str, value: str, lang: str) -> str:
    """A label value as the page shows it: 羽, 陕西, 小调 (English: yu, Shaanxi, xiaodiao (ditty)); a meter as is."""
    from studio.music import labels
    return labels.NAMES.get(name, {}).get(value, {}).get(lang, value)


def _blank(value) -> bool:
    return isinstance(value, str) and not value.strip()


def _steered_by_melody(spec: ModelSpec) -> bool:
    """A MusicGen checkpoint of the melody variant (its config.json says; before a download, its registry key)."""
    import json
    if spec.path is None:
        return spec.key == "musicgen-melody"
    try:
        return json.loads((spec.path / "config.json").read_text(encoding="utf-8")).get("model_type") == \
            "musicgen_melody"
    except (OSError, ValueError):
        return False




def melody_audio(value, lang: str, notices: list[str]) -> tuple[tuple | None, str]:
    """((samples, rate), file name) of a tune that steers the melody variant: a WAV file, or (rate, samples) as
    Gradio's audio input gives it; None when there is none. Longer than 30 s: its first 30 s, with a notice."""
    import numpy as np
    if value is None or _blank(value):
        return None, ""
    name = ""
    if isinstance(value, (tuple, list)) and len(value) == 2 and not isinstance(value[0], str):
        rate, samples = value
    else:
        from pathlib import Path

        from scipy.io import wavfile
        name = Path(str(value)).name
        try:
            rate, samples = wavfile.read(str(value))
        except (OSError, ValueError, TypeError) as exc:
            raise StudioError("music_bad_melody", name=name[:80]) from exc
    samples = np.asarray(samples)
    if samples.dtype.kind == "i":  # 16-bit PCM and such: to [-1, 1]
        samples = samples / float(np.iinfo(samples.dtype).max)
    samples = samples.astype(np.float32)
    rate = validate.number("melody_audio", rate, 1000, 384000, int)
    if samples.ndim > 1:
        samples = samples.mean(axis=1 if samples.shape[-1] <= 8 else 0)
    if samples.size < rate // 10:
        raise StudioError("music_bad_melody", name=name[:80] or "audio")
    if samples.size > MELODY_SECONDS * rate:
        samples = samples[:MELODY_SECONDS * rate]
        notices.append(t("notice_melody_cut", lang, seconds=MELODY_SECONDS))
    return (samples, rate), name


def _sent_melody(call: dict) -> dict:
    """A tune given as a file of this process goes to a worker as its samples (workers share no disk)."""
    value = call.get("melody_audio")
    if value is None or _blank(value) or isinstance(value, (tuple, list)):
        return call
    tune, _ = melody_audio(value, caller_lang(call.get("lang")), [])
    return {**call, "melody_audio": (tune[1], tune[0])}


def _bars(value, d: dict) -> int:
    low, _ = KNOBS["bars"].bounds
    bars = validate.number("bars", value, -10**9, 10**9, int)
    if not low <= bars <= d.get("max_bars", 64):
        raise StudioError("music_bad_bars", bars=bars, cap=d.get("max_bars", 64))
    return bars


def _duration(value, d: dict) -> float:
    seconds = validate.number("duration", value, -1e9, 1e9, float)
    cap = min(d.get("max_seconds", 30.0), KNOBS["duration"].bounds[1])
    if not KNOBS["duration"].bounds[0] <= seconds <= cap:
        raise StudioError("music_bad_duration", seconds=round(seconds, 1), cap=cap)
    return seconds


def melody_job(job: MusicJob):
    from studio.music import melody
    return melody.MelodyJob(bars=job.bars, sampling=job.sampling, seed=job.seed, guidance=job.guidance, **job.labels)


def _melody_result(engine, job: MusicJob, stop, notices: list[str]) -> MusicResult:
    """Notes from the model (on the device, token by token), then sound, MIDI and ABC from the notes."""
    from studio.music import melody, midi, synth
    tune = melody.sample(engine, melody_job(job), stop)
    check_stop(stop)
    audio = synth.render(tune.notes, tempo=job.tempo, instrument=job.instrument, velocity=job.velocity,
                         sample_rate=RATE)
    meter = tune.meter or heard_meter(tune.notes)
    abc = midi.abc_text(tune.notes, meter, title=f"mini-melody {job.seed}", tempo=job.tempo)
    return MusicResult(None, RATE, audio, tune.notes, job.seed, notices, abc, meter=meter)


def _audio_result(engine, job: MusicJob, stop, notices: list[str]) -> MusicResult:
    from studio.music import musicgen
    audio, rate = musicgen.generate(engine, musicgen.AudioJob(
        prompt=job.prompt, duration=job.duration, guidance=job.guidance, temperature=job.sampling.temperature,
        top_k=job.sampling.top_k, top_p=job.sampling.top_p, seed=job.seed, melody=job.melody), stop)
    return MusicResult(None, rate, audio, None, job.seed, notices)


def _saved(result: MusicResult, job: MusicJob, save: bool, lang: str) -> MusicResult:
    """A 16-bit WAV with the AIGC label, a JSON sidecar of what made it and, for a melody, its MIDI file."""
    if not save:
        return result
    try:
        path = output_folder("music") / new_name(".wav", job.seed)
        label = f"{aigc_label.KEY}={aigc_label.text(path.name)}"
        write_atomic(path, lambda f: write_wav(f, result.audio, result.sample_rate, label))
        params = {**job.params(), "sample_rate": result.sample_rate}
        if result.notes is not None:
            from studio.music import midi
            data = midi.midi_bytes(result.notes, job.tempo, job.instrument, job.velocity, result.meter)
            result.midi = write_atomic(path.with_suffix(".mid"), lambda f: f.write(data))
            params["abc"] = result.abc
        write_atomic(path.with_suffix(".json"), lambda f: f.write(json_bytes(params, path.name)))
        result.path = path
    except OSError as exc:
        result.notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return result


def _saved_here(result: MusicResult, call: dict) -> MusicResult:
    """A worker's music (studio.core.backend) saved by this process, as generate_music saves its own: the same
    checked values (with the seed the worker chose) make the same sidecar."""
    if not call.get("save", True):
        return result
    lang = caller_lang(call.get("lang"))
    spec = task_spec(call["model"], "music")
    values = {k: call[k] for k in LABELS + PERFORMANCE + ("bars", "temperature", "top_k", "top_p", "duration",
                                                          "guidance", "melody_audio")}
    job = music_job(spec, call["prompt"], result.seed, lang, [], **values)
    return _saved(result, job, True, lang)


def music_choices(model: str = "mini-melody", lang: str | None = None) -> dict:
    """What the page offers for `model`: "symbolic" (a melody model: labels and 表现 controls) or not (an audio
    model: a description; "melody_guide": it also follows a tune), a symbolic model's label values as (shown, value)
    pairs -- those it was trained with -- and the instruments."""
    lang = caller_lang(lang)
    spec = task_spec(model, "music")
    if spec.loader != "melody":
        return {"symbolic": False, "melody_guide": _steered_by_melody(spec), **{name: [] for name in LABELS},
                "instrument": []}
    from studio.music import synth
    known = known_labels(spec)
    return {"symbolic": True, "melody_guide": False,
            **{name: [(shown_label(name, value, lang), value) for value in known[name]] for name in LABELS},
            "instrument": [(getattr(i, lang), key) for key, i in synth.INSTRUMENTS.items()]}


@routed("music")
def melody_next_note(model: str = "mini-melody", index: int = 0, *, meter: str | None = None,
                     mode: str | None = None, region: str | None = None, genre: str | None = None,
                     bars: int | None = None, temperature: float | None = None, top_k: int | None = None,
                     top_p: float | None = None, guidance: float | None = None, seed: int = 0, n: int = 12,
                     lang: str | None = None) -> dict:
    """The next-note view: the melody generate_music makes with these values (pass the seed it showed back), and
    the probability the model gave each candidate pitch for note `index` (from 0), after label guidance,
    temperature / top-k / top-p, as sampling drew from them.
    {"notes", "meter", "index", "candidates": [{"name", "p", "chosen"}]}."""
    lang = caller_lang(lang)
    spec = task_spec(model, "music")
    if spec.loader != "melody":
        raise StudioError("music_not_symbolic", model=spec.title)
    job = music_job(spec, "", seed, lang, [], meter=meter, mode=mode, region=region, genre=genre, bars=bars,
                    temperature=temperature, top_k=top_k, top_p=top_p, guidance=guidance)
    from studio.music import melody
    tune_job = melody_job(job)

    def view(engine) -> dict:
        tune = melody.sample(engine, tune_job)
        at = validate.number("index", index, 0, max(0, len(tune.pitch_positions) - 1), int)
        rows = melody.next_note(engine, tune_job, tune, at, n=n)
        return {"notes": tune.notes, "meter": tune.meter or heard_meter(tune.notes), "index": at,
                "candidates": [{**row, "name": _candidate(row, lang)} for row in rows]}
    return manager().run(model, view)


def _candidate(row: dict, lang: str) -> str:
    """A candidate token as the chart names it: a pitch with its 简谱 degree in gong = C ("E♭4", "G4 · 徵"), a rest,
    or the end of the bar / piece (where the grammar lets the bar end)."""
    if row["pitch"] is not None:
        name = row["name"].replace("b", "♭").replace("#", "♯")
        return name if lang == "zh" or row["degree"] is None else name.split(" · ")[0] + f" · {row['degree']}"
    words = {"rest": ("休止", "rest"), "<eos>": ("结束", "end")}
    zh, en = words.get(row["token"], ("小节线", "bar line"))
    return zh if lang == "zh" else en


def music_code(prompt: str = "", model: str = "mini-melody", *, meter: str | None = None, mode: str | None = None,
               region: str | None = None, genre: str | None = None, bars: int | None = None,
               tempo: int | None = None, instrument: str | None = None, velocity: int | None = None,
               temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
               seed: int = -1, duration: float | None = None, guidance: float | None = None, melody_audio=None,
               lang: str | None = None) -> str:
    """查看代码: a script that makes the same music as generate_music with these values (pass the seed the page
    showed back): transformers for the model's part, and for a melody the studio's own synthesiser."""
    from studio.core.config import settings
    from studio.music import code
    lang = caller_lang(lang)
    spec = task_spec(model, "music")
    job = music_job(spec, prompt, seed, lang, [], meter=meter, mode=mode, region=region, genre=genre, bars=bars,
                    tempo=tempo, instrument=instrument, velocity=velocity, temperature=temperature, top_k=top_k,
                    top_p=top_p, duration=duration, guidance=guidance, melody_audio=melody_audio)
    return code.music_script(spec, job, settings().hub, RATE)
