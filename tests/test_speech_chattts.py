"""The ChatTTS path against the real ChatTTS package, on a tiny random-weight folder built from its own
classes (tests/tiny_chattts.py): loading, voice seed -> speaker string, refine, the word-level rule,
pasted voices, the experiments and 查看代码."""
from __future__ import annotations

import subprocess
import sys
import wave

import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError
from tests.conftest import beside
from tests.tiny_chattts import build_chattts


KW = dict(temperature=0.3, top_p=0.7, top_k=20)


@pytest.fixture(scope="session")
def chattts_folder(tmp_path_factory):
    return build_chattts(tmp_path_factory.mktemp("chattts") / "chattts")


@pytest.fixture
def chattts(studio_env, models_dir, chattts_folder):
    (models_dir / "chattts").symlink_to(chattts_folder, target_is_directory=True)  # as if downloaded there
    return "chattts"


def test_the_voice_seed_picks_the_speaker_and_the_audio(chattts):
    a = api.synthesize_speech("你好，今天学习语音合成。", chattts, seed=11, text_seed=3, **KW)
    b = api.synthesize_speech("你好，今天学习语音合成。", chattts, seed=11, text_seed=3, **KW)
    c = api.synthesize_speech("你好，今天学习语音合成。", chattts, seed=12, text_seed=3, **KW)
    assert a.sample_rate == 24000 and a.audio.dtype == np.float32 and np.abs(a.audio).max() > 0.05
    assert a.speaker == b.speaker != c.speaker
    assert np.array_equal(a.audio, b.audio)
    assert a.refined_text  # the refine step ran and its text is shown


def test_a_pasted_voice_string_is_that_voice_and_a_bad_one_is_refused(chattts):
    first = api.synthesize_speech("第一句。", chattts, seed=21, refine=False, **KW)
    again = api.synthesize_speech("第一句。", chattts, seed=99, speaker=first.speaker, refine=False, **KW)
    other = api.synthesize_speech("第一句。", chattts, seed=99, refine=False, **KW)
    assert again.speaker == first.speaker != other.speaker  # the pasted string wins over the seed
    for bad in ("not a voice", first.speaker[:20]):
        with pytest.raises(StudioError) as err:
            api.synthesize_speech("第一句。", chattts, speaker=bad)
        assert err.value.key == "bad_speaker"


def test_word_level_tokens_switch_refine_off_with_a_notice(chattts):
    r = api.synthesize_speech("你好[uv_break]同学们[laugh]。", chattts, seed=1, refine=True, lang="en", **KW)
    assert r.refined_text is None and any("refinement off" in n for n in r.notices)
    assert np.abs(r.audio).max() > 0.05


def test_saved_wav_and_the_experiments(chattts):
    r = api.synthesize_speech("保存这一句。", chattts, seed=5, text_seed=1, **KW)
    with wave.open(str(r.path)) as w:
        assert w.getframerate() == 24000 and w.getnframes() == len(r.audio)
    assert '"speaker"' in r.path.with_suffix(".json").read_text(encoding="utf-8")
    three = api.prosody_comparison("同一句话。", chattts, seed=5, text_seed=1, **KW)
    assert len(three) == 3 and all(x.path.is_file() for x in three) and len({x.speaker for x in three}) == 1
    two = api.fixed_voice(["第一句。", "第二句。"], chattts, seed=8, **KW)
    assert two[0].speaker == two[1].speaker
    talk = api.dialogue("A: 你好。\nB: 你好。", chattts, seed_a=1, seed_b=2, **KW)
    assert talk.path.is_file() and len(talk.audio) > 0.4 * 24000


def test_exported_chattts_code_makes_the_pages_audio(chattts, chattts_folder, tmp_path):
    page = api.synthesize_speech("你好，同学们。", chattts, seed=4, text_seed=2, save=False, **KW)
    code = api.speech_code("你好，同学们。", chattts, seed=4, text_seed=2, **KW)
    assert "sha256_map" in code  # a tiny folder is not the published release: the script says so and accepts it
    assert "model_path = 'chattts'" in code  # the server's own folder, by name: copied beside the script
    (tmp_path / "run.py").write_text(code, encoding="utf-8")
    beside(tmp_path, chattts_folder)
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    with wave.open(str(tmp_path / "speech.wav")) as w:
        made = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767
    assert made.shape == page.audio.shape and np.abs(made - page.audio).max() < 2e-3


def test_a_dialogue_has_short_gaps_whatever_the_break_level(chattts):
    script = "A: 你好。\nB: 你好，同学。"
    talk = api.dialogue(script, chattts, 3, 4, pause=6, text_seed=1, save=False, **KW)
    parts = [api.synthesize_speech(said, chattts, seed, pause=6, text_seed=1, save=False, **KW).audio
             for said, seed in (("你好。", 3), ("你好，同学。", 4))]
    assert np.array_equal(talk.audio[:len(parts[0])], parts[0])  # the lines themselves, as spoken alone
    silence = (len(talk.audio) - sum(map(len, parts))) / talk.sample_rate
    assert abs(silence - 0.4) < 0.01
