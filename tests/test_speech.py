"""语音合成 with the offline eSpeak NG engine: real audio through Python and gradio_client, the course's
experiments, control tokens, 查看代码, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError


def _seconds(r) -> float:
    return len(r.audio) / r.sample_rate


def _loud(audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0


@pytest.mark.parametrize("text, voice", [("今天我们一起体验语音合成。", "cmn"),
                                         ("Today we try speech synthesis.", "en")])
def test_espeak_speaks_chinese_and_english_for_a_plausible_time(studio_env, text, voice):
    r = api.synthesize_speech(text, "espeak", voice=voice)
    assert r.audio.dtype == np.float32 and r.sample_rate == 22050
    assert _loud(r.audio) > 0.02 and np.abs(r.audio).max() <= 1.0  # not silence, not clipped
    units = len(text) if voice == "cmn" else len(text.split())
    assert 0.1 * units < _seconds(r) < 0.8 * units  # roughly 2-10 characters or words a second


def test_the_saved_wav_and_sidecar_hold_the_audio_and_its_settings(studio_env):
    r = api.synthesize_speech("你好，世界。", "espeak", rate=200, pitch=70)
    with wave.open(str(r.path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
        saved = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767
    assert np.abs(saved - r.audio).max() < 1e-4
    params = json.loads(r.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert params["text"] == "你好，世界。" and params["rate"] == 200 and params["pitch"] == 70


def test_rate_and_pauses_change_the_length(studio_env):
    slow = api.synthesize_speech("我们一起学习。", "espeak", rate=120, save=False)
    fast = api.synthesize_speech("我们一起学习。", "espeak", rate=300, save=False)
    paused = api.synthesize_speech("我们一起[break_7]学习。", "espeak", rate=120, save=False)
    assert _seconds(fast) < _seconds(slow) < _seconds(paused) - 0.5  # [break_7] = 700 ms


def test_long_text_is_spoken_sentence_by_sentence(studio_env):
    text = "第一句话。第二句话！Third sentence? 第四句。"
    r = api.synthesize_speech(text, "espeak", save=False, lang="en")
    assert any("4 sentence pieces" in n for n in r.notices)
    single = api.synthesize_speech("第一句话。", "espeak", save=False)
    assert _seconds(r) > 3 * _seconds(single)


def test_tokens_espeak_cannot_voice_get_a_notice(studio_env):
    r = api.synthesize_speech("你好[laugh]，欢迎[oral_3]。", "espeak", save=False, lang="en")
    assert any("[laugh]" in n and "[oral_3]" in n for n in r.notices)


@pytest.mark.parametrize("kwargs, key", [
    (dict(text=""), "empty_text"), (dict(text="   "), "empty_text"),
    (dict(text="[uv_break][laugh]"), "speech_only_tokens"),
    (dict(text="你好[cry]"), "unknown_speech_token"), (dict(text="你好[oral_12]"), "unknown_speech_token"),
    (dict(text="字" * 2001), "prompt_too_long"),
    (dict(text="hi", voice="klingon"), "bad_voice"), (dict(text="hi", rate="fast"), "bad_number"),
    (dict(text="hi", pitch=float("nan")), "bad_number"), (dict(text="hi", model="mini-poem"), "wrong_task")])
def test_bad_input_gets_a_message_and_speech_keeps_working(studio_env, kwargs, key):
    with pytest.raises(StudioError) as err:
        api.synthesize_speech(**{"model": "espeak", **kwargs})
    assert err.value.key == key and err.value.message("zh") and err.value.message("en")
    assert _loud(api.synthesize_speech("还在工作。", "espeak", save=False).audio) > 0.02


def test_prosody_comparison_fixed_voice_and_dialogue_make_their_files(studio_env):
    rates = api.prosody_comparison("同一句话，三种设置。", "espeak")
    assert len(rates) == 3 and all(r.path.is_file() for r in rates)
    assert _seconds(rates[0]) > _seconds(rates[1]) > _seconds(rates[2])  # rate 130, 175, 230
    same = api.fixed_voice(["第一句。", "第二句。"], "espeak", seed=5)
    assert len(same) == 2 and all(r.path.is_file() and _loud(r.audio) > 0.02 for r in same)
    # the page hands every control over, ChatTTS's break level 6 too: it is not seconds between lines
    talk = api.dialogue("A: 你好！\nB：你好，今天学什么？\nA: 语音合成。", "espeak", pause=6)
    parts = [api.synthesize_speech(t, "espeak", save=False, **kw).audio
             for t, kw in (("你好！", {}), ("你好，今天学什么？", {"pitch": 75}), ("语音合成。", {}))]
    silence = (len(talk.audio) - sum(map(len, parts))) / talk.sample_rate  # eSpeak's length varies a little
    assert abs(silence - 2 * 0.4) < 0.02 and talk.path.is_file()
    wider = api.dialogue("A: 你好！\nB：你好，今天学什么？\nA: 语音合成。", "espeak", gap=1.0, save=False)
    assert abs((len(wider.audio) - len(talk.audio)) / talk.sample_rate - 2 * 0.6) < 0.02
    with pytest.raises(StudioError) as err:
        api.dialogue("A: 你好\nC: 我是谁", "espeak")
    assert err.value.key == "bad_dialogue" and "2" in err.value.message("en")


def test_exported_espeak_code_makes_the_same_samples(studio_env, tmp_path):
    kw = dict(voice="cmn", rate=190, pitch=40, volume=120)
    page = api.synthesize_speech("你好[break_3]世界。Hello there.", "espeak", save=False, **kw)
    (tmp_path / "run.py").write_text(api.speech_code("你好[break_3]世界。Hello there.", "espeak", **kw),
                                     encoding="utf-8")
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with wave.open(str(tmp_path / "speech.wav")) as w:
        made = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    # eSpeak draws its frication noise from C rand() and its length varies by a few samples from run to run,
    # so "the same audio" is: the same length within 1% and the same loudness contour.
    assert abs(len(made) - len(page.audio)) < 0.01 * len(page.audio)
    assert np.corrcoef(_envelope(made), _envelope(page.audio))[0, 1] > 0.95


def _envelope(audio, rate=22050, window=0.02):
    n = int(rate * window)
    frames = len(audio) // n
    return np.sqrt(np.mean(np.square(audio[:frames * n].reshape(frames, n)), axis=1))[:frames - 2]


def test_chattts_without_weights_says_how_to_get_them(studio_env):
    with pytest.raises(StudioError) as err:
        api.synthesize_speech("你好", "chattts", seed=1)
    assert "chattts" in err.value.message("zh") and "STUDIO_HUB" in err.value.message("en")  # where to put it
    assert _loud(api.synthesize_speech("你好", "espeak", save=False).audio) > 0.02
