"""mini-melody: label derivation on hand-labelled tunes, the token vocabulary, the runtime sampler on the shipped
model (seeds, stop, temperature, bars, labels), and a smoke training run on the tests' own sample."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from scripts.mini_melody import abc
from studio.core.errors import StudioError
from studio.core.specs import ModelSpec
from studio.music import labels as L
from studio.music import vocab
from studio.music.notes import Note
from studio.text.sampling import Sampling


ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "melody"
SHIPPED = ROOT / "assets" / "models" / "mini-melody"
# hand-checked (tests/data/melody/README.md)
MODES = {"1": "shang", "2": "zhi", "3": "zhi", "5": "yu", "6": "shang", "10": "zhi", "12": "zhi", "13": "shang",
         "392": "gong", "431": "jue", "432": None, "436": "jue"}


def _sample_tunes():
    tunes, failed = abc.read_tunes(SAMPLE / "han_sample.abc")
    assert not failed
    return {t.headers["X"]: t for t in tunes}


# -- labels --------------------------------------------------------------------------------------
def test_modes_of_hand_labelled_tunes():
    tunes = _sample_tunes()
    assert set(tunes) == set(MODES)
    for number, mode in MODES.items():
        tune = tunes[number]
        assert L.mode_of(tune.key, abc.final_pitch(tune)) == mode, number


def test_reader_applies_the_key_signature_and_bar_accidentals():
    tunes = _sample_tunes()
    first = [e.pitch for e in tunes["2"].bars[1]]  # K:F, "f2c4B2": B is B flat
    assert first == [77, 72, 70]
    assert [e.pitch for e in tunes["2"].bars[2]] == [67, 72, 63, 65]  # "G2c2_E2F2"
    assert abc.final_pitch(tunes["436"]) == 68  # K:E: G is G sharp; the rest after it is skipped
    assert {k: v for k, v in abc.signature("Bb").items() if v} == {"B": -1, "E": -1}
    assert {k: v for k, v in abc.signature("A").items() if v} == {"C": 1, "F": 1, "G": 1}


def test_mode_of_reads_the_key_signature():
    assert L.mode_of("G", 62) == "zhi" and L.mode_of("G", 67) == "gong" and L.mode_of("G", 76) == "yu"
    assert L.mode_of("Bb", 72) == "shang" and L.mode_of("F", 64) is None
    assert L.mode_of("Am", 69) == "yu"  # A minor's signature is C major's: gong C, final A -> 羽
    assert L.mode_of("Ddor", 62) == "shang"
    assert {L.FINALS[m] for m in L.FINALS} == {0, 2, 4, 7, 9}


def test_region_and_genre_of_headers():
    assert L.region_of("China, Shaanxi, Zizhou") == "Shaanxi"
    assert L.region_of("China, Shanxi Zuoquan") == "Shanxi"
    assert L.region_of("Asien, Ostasien, China") is None
    assert L.genre_of("Xiaodiao. Geming lishi minge]") == "Xiaodiao"
    assert L.genre_of("Shange, Xintianyou. Geming lishi minge]") == "Shange"
    for field, values in L.NAMES.items():
        for names in values.values():
            assert names["zh"] and names["en"], field


# -- vocabulary ----------------------------------------------------------------------------------
def test_tokens_round_trip_with_a_pickup():
    notes = [Note(67, 1.5, 0.5, 0),  # a pickup of one eighth in 2/4
             Note(69, 2.0, 1.0, 1), Note(None, 3.0, 0.5, 1), Note(72, 3.5, 0.5, 1),
             Note(74, 4.0, 2.0, 2)]
    tokens = vocab.tokens_of(notes, "2/4")
    assert tokens[0] == "|3" and tokens[-2:] == ["d8", vocab.EOS] and "rest" in tokens
    assert vocab.notes_of(tokens, "2/4") == notes


def test_sample_tunes_round_trip():
    from scripts.mini_melody.prepare_data import tune_notes
    for number, tune in _sample_tunes().items():
        notes = tune_notes(tune, vocab.transpose_to_gong_c(L.gong_of(tune.key)))
        tokens = vocab.tokens_of(notes)
        again = vocab.notes_of(tokens)
        assert [(n.pitch, n.duration, n.bar) for n in again] == [(n.pitch, n.duration, n.bar) for n in notes], number
        assert vocab.tokens_of(again) == tokens
        if MODES[number]:  # after the transposition gong is C: the final names the mode by itself
            final = [n.pitch for n in notes if n.pitch is not None][-1]
            assert L.mode_of("C", final) == MODES[number]


def test_prefix_and_vocabulary():
    labels = {"meter": ["2/4"], "mode": list(L.FINALS), "region": ["Shaanxi"], "genre": ["Xiaodiao"]}
    tokens = vocab.vocabulary(labels)
    assert len(tokens) == len(set(tokens))
    prefix = vocab.prefix("2/4", "yu", None, "Xiaodiao", 8)
    assert prefix == ["<bos>", "meter:2/4", "mode:yu", "region:any", "genre:Xiaodiao", "bars:8"]
    assert set(prefix) <= set(tokens)


# -- runtime on the shipped model ----------------------------------------------------------------
shipped = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="mini-melody not built")


@pytest.fixture(scope="module")
def mm():
    from studio.music.melody import load_melody
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_melody(ModelSpec(key="mini-melody", task="music", loader="melody", path=SHIPPED), "cpu")
    torch.set_num_threads(threads)


def _job(**kw):
    from studio.music.melody import MelodyJob
    base = dict(meter="2/4", mode="yu", region=None, genre=None, bars=6, sampling=Sampling(0.9, 0, 1.0, 1.0), seed=7)
    base.update(kw)
    return MelodyJob(**base)


@shipped
def test_same_seed_same_notes_other_seed_other_notes(mm):
    from studio.music.melody import sample
    a, b = sample(mm, _job()), sample(mm, _job())
    assert a.notes == b.notes and a.tokens == b.tokens
    assert sample(mm, _job(seed=8)).notes != a.notes


@shipped
def test_bars_gives_that_many_bars(mm):
    from scripts.mini_melody.evaluate import in_meter
    from studio.music.melody import sample
    for bars, meter in ((1, "2/4"), (4, "3/4"), (9, "4/4")):
        melody = sample(mm, _job(bars=bars, meter=meter, seed=bars))
        assert melody.complete and {n.bar for n in melody.notes} == set(range(bars))
        assert in_meter(melody.notes, meter)  # the meter is kept by default (strict_form)
    alone = sample(mm, _job(bars=5, strict_form=False))
    assert {n.bar for n in alone.notes} == set(range(5))


@shipped
def test_chinese_label_names_are_accepted(mm):
    from studio.music.melody import sample
    a = sample(mm, _job(mode="羽", region="陕西", genre="小调"))
    b = sample(mm, _job(mode="yu", region="Shaanxi", genre="Xiaodiao"))
    assert a.tokens == b.tokens and a.labels["mode"] == "yu"


@shipped
def test_unknown_label_gives_the_message(mm):
    from studio.music.melody import sample
    with pytest.raises(StudioError) as err:
        sample(mm, _job(mode="dorian"))
    assert err.value.key == "music_bad_label"
    zh, en = err.value.message("zh"), err.value.message("en")
    assert "dorian" in zh and "羽" in zh and "mode" in en and "yu" in en


@shipped
def test_stop_set_mid_way_raises_stopped(mm):
    from studio.music.melody import sample

    class StopAfter:  # set after n polls
        def __init__(self, n):
            self.n = n

        def is_set(self):
            self.n -= 1
            return self.n < 0

    with pytest.raises(StudioError) as err:
        sample(mm, _job(bars=8), stop=StopAfter(10))
    assert err.value.key == "stopped"


@shipped
def test_temperature_shapes_the_next_note_distribution(mm):
    from studio.music.melody import next_note, sample
    melody = sample(mm, _job(bars=4))
    index = len(melody.notes) // 2
    entropies = []
    for t in (0.5, 1.0, 1.6):
        rows = next_note(mm, _job(sampling=Sampling(t, 0, 1.0, 1.0)), melody, index, n=len(mm.tokenizer))
        p = [r["p_final"] for r in rows]
        assert abs(sum(p) - 1) < 1e-4 and sum(r["chosen"] for r in rows) == 1
        entropies.append(-sum(x * math.log(x) for x in p if x > 0))
    assert entropies[0] < entropies[1] < entropies[2]
    top = next_note(mm, _job(), melody, index, n=5)
    assert len(top) == 5 and any("·" in r["name"] for r in top)  # "G4 · 徵"


# -- training smoke ------------------------------------------------------------------------------
@pytest.mark.slow
def test_smoke_training_end_to_end(tmp_path):
    from scripts.mini_melody import prepare_data, train
    from studio.music.melody import load_melody, sample
    threads = torch.get_num_threads()
    try:
        data, work, out = tmp_path / "data", tmp_path / "work", tmp_path / "model"
        meta = prepare_data.main([str(data), "--corpus", str(SAMPLE), "--files", "han_sample.abc",
                                  "--eval-percent", "25", "--min-tunes", "1"])
        assert meta["tunes_read"] == 12 and meta["train_tunes"] + meta["eval_tunes"] == meta["tunes_kept"]
        state = train.main(["--smoke", "--data", str(data), "--work", str(work), "--out", str(out)])
        assert state["step"] == 4
        for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "labels.json",
                     "training.json", "loss.png", "README.md"):
            assert (out / name).is_file(), name
        mm = load_melody(ModelSpec(key="smoke", task="music", loader="melody", path=out), "cpu")
        melody = sample(mm, _job(mode="zhi", bars=2))
        assert {n.bar for n in melody.notes} <= {0, 1}
    finally:
        torch.set_num_threads(threads)
