"""Speech synthesis: ChatTTS (the course's model) and eSpeak NG (offline), with the course's experiments."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import numpy as np

from studio.core import aigc_label, validate
from studio.core.backend import routed
from studio.core.calls import caller_lang, check_stop, task_spec
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.manager import manager
from studio.core.outputs import json_bytes, new_name, output_folder, write_atomic, write_wav
from studio.core.results import SpeechResult
from studio.speech import engine as _speech
from studio.speech import espeak as _espeak
from studio.speech import tokens as speech_tokens
from studio.speech.knobs import KNOBS


TEXT_CAP = 2000  # characters per synthesis


@routed("speech", finish=lambda result, call: _saved_here(result, call))
def synthesize_speech(text: str, model: str = "espeak", seed: int = -1, *, text_seed: int = -1,
                      speaker: str | None = None, refine: bool = True, oral: int = 2, laugh: int = 0,
                      pause: int = 6, speed: int = 5, temperature: float = 0.3, top_p: float = 0.7,
                      top_k: int = 20, voice: str = "cmn", rate: int = 175, pitch: int = 50, volume: int = 100,
                      save: bool = True, lang: str | None = None,
                      stop: threading.Event | None = None) -> SpeechResult:
    """Speak `text`. ChatTTS: `seed` is the voice seed (the speaker; `speaker=` pastes a saved one instead),
    `text_seed` seeds the refine step, refine + oral / laugh / pause are the sentence-level controls, inline
    [uv_break] [laugh] [lbreak] need refine off (switched off with a notice), speed 0-9, and temperature /
    top_p / top_k sample the audio codes. eSpeak: voice (cmn, en, ...), rate (words/min), pitch, volume;
    [break_N] / [uv_break] / [lbreak] become pauses. Long text is spoken sentence by sentence.
    Setting `stop` ends it before or right after the synthesis, with nothing saved (StudioError "stopped")."""
    lang = caller_lang(lang)
    spec = task_spec(model, "speech")
    notices: list[str] = []
    job = _job(text, spec.loader, seed, text_seed, speaker, refine, oral, laugh, pause, speed, temperature, top_p,
               top_k, voice, rate, pitch, volume, lang, notices)
    job.stop = stop
    check_stop(stop)
    speech = manager().run(model, lambda engine: _speak(engine, spec.loader, job))
    check_stop(stop)
    result = SpeechResult(speech.sample_rate, speech.audio, None, notices, job.seed, job.text_seed, speech.speaker,
                          speech.refined)
    return _saved(result, speech, job, spec.key, save, lang)


def _saved(result: SpeechResult, speech: _speech.Speech, job, model: str, save: bool, lang: str) -> SpeechResult:
    """The result with its WAV written (`save`); inside an experiment, once every run is made."""
    held = getattr(_held, "files", None)
    if save and held is not None:  # an experiment writes its files once every run is made
        held.append(lambda: setattr(result, "path", _save(speech, job, model, True, lang, result.notices)))
    else:
        result.path = _save(speech, job, model, save, lang, result.notices)
    return result


def _saved_here(result: SpeechResult, call: dict) -> SpeechResult:
    """A worker's speech (studio.core.backend) saved by this process, as synthesize_speech saves its own: the same
    checked values (with the seeds the worker chose) make the same sidecar."""
    lang = caller_lang(call.get("lang"))
    spec = task_spec(call["model"], "speech")
    values = {k: call[k] for k in ("speaker", "refine", "oral", "laugh", "pause", "speed", "temperature", "top_p",
                                   "top_k", "voice", "rate", "pitch", "volume")}
    job = _job(call["text"], spec.loader, -1 if result.seed is None else result.seed,
               -1 if result.text_seed is None else result.text_seed, lang=lang, notices=[], **values)
    speech = _speech.Speech(result.audio, result.sample_rate, result.speaker, result.refined_text)
    return _saved(result, speech, job, spec.key, call.get("save", True), lang)


_held = threading.local()  # per thread: the files an experiment in progress holds back


@contextmanager
def _files_held(stop: threading.Event | None):
    """Inside, synthesize_speech(save=True) writes nothing yet; the files are written when the block ends without
    an error and unstopped, so a stopped experiment leaves no files behind."""
    _held.files = files = []
    try:
        yield
    finally:
        _held.files = None
    check_stop(stop)
    for write in files:
        write()


def _job(text, engine, seed, text_seed, speaker, refine, oral, laugh, pause, speed, temperature, top_p, top_k,
         voice, rate, pitch, volume, lang, notices) -> _speech.SpeechJob:
    text = speech_tokens.check(validate.text("text", text, TEXT_CAP))
    job = _speech.SpeechJob(
        text=text, seed=validate.seed(seed, lang, notices if engine != "espeak" else []),  # eSpeak has no seed
        text_seed=validate.seed(text_seed, lang, []),
        speaker=(speaker or "").strip() or None, refine=bool(refine),
        oral=KNOBS["oral"].check(oral), laugh=KNOBS["laugh"].check(laugh), pause=KNOBS["break"].check(pause),
        speed=KNOBS["speed"].check(speed), temperature=KNOBS["temperature"].check(temperature),
        top_p=KNOBS["top_p"].check(top_p), top_k=KNOBS["top_k"].check(top_k), voice=str(voice or "cmn"),
        rate=KNOBS["rate"].check(rate), pitch=KNOBS["pitch"].check(pitch), volume=KNOBS["volume"].check(volume))
    if engine == "espeak":
        if not isinstance(job.voice, str) or job.voice not in _espeak.VOICES:
            raise StudioError("bad_voice", voice=job.voice, choices=", ".join(_espeak.VOICES))
        dropped = _espeak.dropped_tokens(text)
        if dropped:
            notices.append(t("notice_espeak_tokens", lang, tokens=" ".join(dict.fromkeys(dropped))))
    elif job.refine and speech_tokens.word_level(text):
        job.refine = False
        notices.append(t("notice_refine_off", lang, tokens=" ".join(dict.fromkeys(speech_tokens.word_level(text)))))
    job.pieces = speech_tokens.sentences(text)
    if len(job.pieces) > 1:
        notices.append(t("notice_speech_pieces", lang, pieces=len(job.pieces)))
    return job


def _speak(engine, kind: str, job: _speech.SpeechJob) -> _speech.Speech:
    if kind == "espeak":
        return _speech.speak_espeak(engine, job)
    if job.speaker is not None and not _speech.speaker_is_valid(engine, job.speaker):
        raise StudioError("bad_speaker")
    return _speech.speak_chattts(engine, job)


def _save(speech: _speech.Speech, job, model: str, save: bool, lang: str, notices: list[str]):
    """A 16-bit WAV and a JSON sidecar of everything that made it (the speaker string included)."""
    if not save:
        return None
    try:
        path = output_folder("speech") / new_name(".wav", job.seed)
        label = f"{aigc_label.KEY}={aigc_label.text(path.name)}"
        write_atomic(path, lambda f: write_wav(f, speech.audio, speech.sample_rate, label))
        params = {"model": model, "text": job.text, "seed": job.seed, "text_seed": job.text_seed,
                  "refine": job.refine, "oral": job.oral, "laugh": job.laugh, "break": job.pause, "speed": job.speed,
                  "temperature": job.temperature, "top_p": job.top_p, "top_k": job.top_k, "voice": job.voice,
                  "rate": job.rate, "pitch": job.pitch, "volume": job.volume, "speaker": speech.speaker,
                  "refined_text": speech.refined, "sample_rate": speech.sample_rate}
        if model == "espeak":  # ChatTTS-only values would mislead
            params = {k: v for k, v in params.items() if k in ("model", "text", "voice", "rate", "pitch", "volume",
                                                                "sample_rate")}
        write_atomic(path.with_suffix(".json"), lambda f: f.write(json_bytes(params, path.name)))
        return path
    except OSError as exc:
        notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
        return None


DIALOGUE_LINE = re.compile(r"^\s*([AB])\s*[:：]\s*(.+?)\s*$")


def dialogue(script: str, model: str = "espeak", seed_a: int = 1, seed_b: int = 2, *, gap: float = 0.4,
             save: bool = True, lang: str | None = None, stop: threading.Event | None = None,
             **controls) -> SpeechResult:
    """多角色对话: lines "A: ..." / "B: ..." spoken by two voices (two voice seeds for ChatTTS; for eSpeak
    voice A at the given pitch and voice B a fifth higher), joined into one file with `gap` seconds of silence
    between lines. `controls` are synthesize_speech's, for every line (`pause` is ChatTTS's break level 0-7).
    Setting `stop` ends it after the current line, with nothing saved (StudioError "stopped")."""
    lang = caller_lang(lang)
    gap = validate.number("gap", gap, 0, 5, float)
    lines = [line for line in validate.text("script", script, TEXT_CAP * 5).splitlines() if line.strip()]
    if not lines:
        raise StudioError("empty_text")
    turns = []
    for i, line in enumerate(lines, 1):
        m = DIALOGUE_LINE.match(line)
        if not m:
            raise StudioError("bad_dialogue", line=i)
        turns.append((m.group(1), m.group(2)))
    notices: list[str] = []
    seed_a, seed_b = (validate.seed(s, lang, notices) for s in (seed_a, seed_b))  # -1: one random voice per part
    results = []
    for who, said in turns:
        extra = {}
        if model == "espeak" and who == "B":
            extra["pitch"] = min(99, int(controls.get("pitch", 50)) + 25)
        check_stop(stop)
        r = synthesize_speech(said, model, seed_a if who == "A" else seed_b, save=False, lang=lang, stop=stop,
                              **{**controls, **extra})
        results.append(r)
        notices += [n for n in r.notices if n not in notices]
    check_stop(stop)
    rate = results[0].sample_rate
    silence = np.zeros(int(gap * rate), np.float32)
    audio = np.concatenate([x for r in results for x in (r.audio, silence)][:-1])
    job = _speech.SpeechJob(text=script, seed=seed_a, text_seed=seed_b)
    path = _save(_speech.Speech(audio, rate, None, None), job, task_spec(model, "speech").key, save, lang, notices)
    return SpeechResult(rate, audio, path, notices, seed_a, seed_b, None, None)


# The course's prosody experiment: the same sentence with little, some and much oral / laugh / break.
PROSODY_SETTINGS = ((0, 0, 0), (4, 1, 4), (9, 2, 7))
ESPEAK_RATES = (130, 175, 230)  # eSpeak has no prosody tokens: the comparison shows speaking rate instead


def prosody_comparison(text: str, model: str = "espeak", seed: int = -1, *, text_seed: int = 0,
                       lang: str | None = None, stop: threading.Event | None = None,
                       **controls) -> list[SpeechResult]:
    """韵律对比: one sentence, one voice, three settings side by side (ChatTTS: [oral_N][laugh_N][break_N] at
    0/0/0, 4/1/4, 9/2/7; eSpeak: rate 130 / 175 / 230 words per minute). Setting `stop` ends it after the
    current run, with no file saved (StudioError "stopped")."""
    lang = caller_lang(lang)
    notices: list[str] = []
    seed = validate.seed(seed, lang, notices)
    text_seed = validate.seed(text_seed, lang, [])  # -1: one random text seed for all three
    if task_spec(model, "speech").loader == "espeak":
        runs = [dict(rate=r) for r in ESPEAK_RATES]
    else:
        runs = [dict(oral=o, laugh=la, pause=b, refine=True) for o, la, b in PROSODY_SETTINGS]
    with _files_held(stop):
        results = [synthesize_speech(text, model, seed, text_seed=text_seed, lang=lang, stop=stop,
                                     **{**controls, **run}) for run in runs]
    results[0].notices[:0] = notices
    return results


def fixed_voice(sentences: list[str], model: str = "espeak", seed: int = -1, *, lang: str | None = None,
                stop: threading.Event | None = None, **controls) -> list[SpeechResult]:
    """固定音色: several sentences, one voice seed, so one voice (ChatTTS: the same speaker string).
    Setting `stop` ends it after the current sentence, with no file saved (StudioError "stopped")."""
    lang = caller_lang(lang)
    notices: list[str] = []
    seed = validate.seed(seed, lang, notices)
    lines = [s for s in (validate.text("sentence", x, TEXT_CAP)
                         for x in validate.items("sentences", sentences or [], 50))
             if s.strip()]
    if not lines:
        raise StudioError("empty_text")
    with _files_held(stop):
        results = [synthesize_speech(line, model, seed, lang=lang, stop=stop, **controls) for line in lines]
    results[0].notices[:0] = notices
    return results


def speech_code(text: str, model: str = "espeak", seed: int = -1, *, text_seed: int = -1, speaker: str | None = None,
                refine: bool = True, oral: int = 2, laugh: int = 0, pause: int = 6, speed: int = 5,
                temperature: float = 0.3, top_p: float = 0.7, top_k: int = 20, voice: str = "cmn", rate: int = 175,
                pitch: int = 50, volume: int = 100, lang: str | None = None) -> str:
    """查看代码: a ChatTTS (or eSpeak NG) script that makes the same audio as synthesize_speech with these values
    (pass the seeds the page showed back)."""
    from studio.core.config import settings
    from studio.speech import chattts_files
    from studio.speech import code as speechcode
    lang = caller_lang(lang)
    spec = task_spec(model, "speech")
    job = _job(text, spec.loader, seed, text_seed, speaker, refine, oral, laugh, pause, speed, temperature, top_p,
               top_k, voice, rate, pitch, volume, lang, [])
    published = True
    if spec.loader == "chattts" and spec.path is not None and not chattts_files.missing(spec.path):
        published = chattts_files.is_published(spec.path)
    return speechcode.speech_script(spec, job, settings().hub, published)


@routed("speech")
def espeak_phonemes(text: str, voice: str = "cmn") -> str:
    """原理 for eSpeak: what it will say, as its phoneme mnemonics."""
    text = speech_tokens.check(validate.text("text", text, TEXT_CAP))
    validate.option("voice", voice, tuple(_espeak.VOICES), "bad_voice", voice=str(voice)[:40])
    return manager().run("espeak", lambda engine: engine.phonemes(text, voice))
