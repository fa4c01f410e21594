"""MusicGen's real-model path (studio.music.musicgen) on tiny random-weight MusicGen folders saved as the hub's
snapshots are (tests/tiny_musicgen.py) and loaded back through `load_musicgen`'s from_pretrained: the audio's
length, the seed, the job's own generator (interleaved jobs keep their lone music; the draws equal generate's own
after torch.manual_seed), stopping, guidance, the empty prompt, safetensors only, and the melody variant."""
from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch

from studio.core import config, loaders
from studio.core.errors import StudioError
from studio.core.specs import ModelSpec
from studio.music import musicgen as mg
from tests import tiny_musicgen


PROMPT = "a calm piano piece on a rainy evening"
# (prompt, duration, guidance, temperature, top_k, top_p, seed): two different sampled jobs
JOB_A = mg.AudioJob(PROMPT, 1.0, 3.0, 1.0, 250, 1.0, 5)
JOB_B = mg.AudioJob("upbeat electronic dance track with synths", 1.0, 2.0, 1.2, 50, 0.95, 6)
SECOND = 32000


def _spec(folder) -> ModelSpec:
    return ModelSpec(f"local:{folder}", "music", "musicgen", None, folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    config.configure([], env={})  # defaults: safetensors only, no remote code
    root = tmp_path_factory.mktemp("musicgen")
    yield {name: build(root / name) for name, build in tiny_musicgen.BUILDERS.items()}
    config.configure([], env={})


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: the tiny matrices gain nothing from two, and lose much on cores other jobs share (conftest's
    _keep_torch_threads puts the default back after each test)."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mm(folders) -> mg.MusicgenModel:
    return mg.load_musicgen(_spec(folders["tiny-musicgen"]), "cpu")


@pytest.fixture(scope="module")
def melody_mm(folders) -> mg.MusicgenModel:
    return mg.load_musicgen(_spec(folders["tiny-musicgen-melody"]), "cpu")


def _job(job: mg.AudioJob, **changes) -> mg.AudioJob:
    return mg.AudioJob(**{**job.__dict__, **changes})


# --- loading -----------------------------------------------------------------------------------------------------

def test_the_folder_holds_safetensors_and_loads_through_from_pretrained(folders, mm):
    from transformers import MusicgenForConditionalGeneration, MusicgenProcessor, T5Tokenizer
    files = {p.name for p in folders["tiny-musicgen"].iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".ckpt")) for f in files)
    assert {"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"} <= files
    assert type(mm.model) is MusicgenForConditionalGeneration and not mm.model.training
    assert type(mm.processor) is MusicgenProcessor and isinstance(mm.processor.tokenizer, T5Tokenizer)
    assert mm.modules() == [mm.model] and not mg.is_melody(mm)
    # the real structure: 4 codebooks, 32 kHz, 50 frames a second, pad/bos 2048
    assert (mm.model.decoder.num_codebooks, mg.sampling_rate(mm), mg.frame_rate(mm)) == (4, SECOND, 50)
    assert mm.model.generation_config.pad_token_id == mm.model.generation_config.decoder_start_token_id == 2048
    assert mg.max_seconds(mm) == 30.0


def test_a_folder_with_pickle_weights_only_is_refused(folders, tmp_path):
    from safetensors.torch import load_file
    folder = tmp_path / "bin-only"
    shutil.copytree(folders["tiny-musicgen"], folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(StudioError) as err:
        loaders.load(_spec(folder), "cpu")  # the manager's door: check_weights_safe
    assert err.value.key == "unsafe_weights"
    with pytest.raises(OSError):  # and the loader itself asks from_pretrained for safetensors only
        mg.load_musicgen(_spec(folder), "cpu")


def test_a_folder_that_is_not_musicgen_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    with pytest.raises(StudioError) as err:
        mg.load_musicgen(_spec(tmp_path), "cpu")
    assert err.value.key == "not_a_pipeline"


# --- what comes out ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [1.0, 2.5])
def test_the_duration_sets_the_length_within_one_frame(mm, seconds):
    audio, rate = mg.generate(mm, _job(JOB_A, duration=seconds))
    assert rate == SECOND and audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - seconds * SECOND) <= SECOND // 50 and np.isfinite(audio).all() and audio.any()
    assert mg.max_new_tokens(mm, seconds) == round(seconds * 50) + 3  # + the delay pattern's tail


def test_the_same_seed_gives_the_same_music_another_seed_other_music(mm):
    first, _ = mg.generate(mm, JOB_A)
    again, _ = mg.generate(mm, JOB_A)
    other, _ = mg.generate(mm, _job(JOB_A, seed=JOB_A.seed + 1))
    assert np.array_equal(first, again) and not np.allclose(first, other)


def test_guidance_and_the_description_change_the_music(mm):
    base, _ = mg.generate(mm, JOB_A)
    unguided, _ = mg.generate(mm, _job(JOB_A, guidance=1.0))
    reworded, _ = mg.generate(mm, _job(JOB_A, prompt="epic orchestral cinematic theme"))
    assert not np.allclose(base, unguided) and not np.allclose(base, reworded)


@pytest.mark.parametrize("job", [JOB_A, JOB_B, _job(JOB_B, guidance=1.0, top_k=0, top_p=1.0)])
def test_the_draws_are_what_generate_drew_from_the_seeded_global_rng(mm, job):
    ours, _ = mg.generate(mm, job)
    inputs = mm.processor(text=[job.prompt], padding=True, return_tensors="pt")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.seed)
        theirs = mm.model.generate(**inputs, do_sample=True, guidance_scale=job.guidance,
                                   temperature=job.temperature, top_k=job.top_k, top_p=job.top_p,
                                   max_new_tokens=mg.max_new_tokens(mm, job.duration))
    assert np.array_equal(ours, theirs[0, 0].numpy())


def test_temperature_zero_is_greedy_guided_decoding_whatever_the_seed(mm):
    greedy = _job(JOB_A, temperature=0.0)
    ours, _ = mg.generate(mm, greedy)
    other_seed, _ = mg.generate(mm, _job(greedy, seed=99))
    inputs = mm.processor(text=[PROMPT], padding=True, return_tensors="pt")
    theirs = mm.model.generate(**inputs, do_sample=False, guidance_scale=greedy.guidance,
                               max_new_tokens=mg.max_new_tokens(mm, 1.0))
    assert np.array_equal(ours, other_seed) and np.array_equal(ours, theirs[0, 0].numpy())


def test_top_p_zero_is_off_as_in_audiocraft(mm):
    assert np.array_equal(mg.generate(mm, _job(JOB_A, top_p=0.0))[0], mg.generate(mm, _job(JOB_A, top_p=1.0))[0])


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_an_empty_prompt_asks_for_a_description(mm, prompt):
    with pytest.raises(StudioError) as err:
        mg.generate(mm, _job(JOB_A, prompt=prompt))
    assert err.value.key == "music_empty_prompt"
    assert "MusicGen" in err.value.message("zh") and "description" in err.value.message("en")


@pytest.mark.parametrize("seconds", [0.5, 31.0])
def test_a_duration_outside_the_checkpoint_limit_is_refused(mm, seconds):
    with pytest.raises(StudioError) as err:
        mg.generate(mm, _job(JOB_A, duration=seconds))
    assert err.value.key == "music_bad_duration" and "30" in str(err.value)


# --- the scheduler: the job's own generator, stopping ------------------------------------------------------------

# Copied from tests.test_text_decode._Turns
class _Turns:
    """Two jobs on two threads that take turns token by token: a job's stop flag hands the device to the other
    job and waits until its turn comes back, as the fair scheduler pauses a job in is_set()."""

    def __init__(self):
        self.cond = threading.Condition()
        self.turn = 0
        self.done: set[int] = set()
        self.switches = 0

    def _wait(self, me: int) -> None:
        assert self.cond.wait_for(lambda: self.turn == me, timeout=120), "the other job never handed back"

    def _hand_over(self, me: int) -> None:
        other = 1 - me
        self.turn = me if other in self.done else other
        self.switches += self.turn != me
        self.cond.notify_all()

    def flag(self, me: int):
        turns = self

        class Flag:
            def is_set(self) -> bool:
                with turns.cond:
                    turns._hand_over(me)
                    turns._wait(me)
                return False

        return Flag()

    def run(self, me: int, work):
        with self.cond:
            self._wait(me)
        try:
            return work()
        finally:
            with self.cond:
                self.done.add(me)
                self._hand_over(me)


def test_two_jobs_taking_turns_between_tokens_each_get_their_lone_music(mm):
    lone = [mg.generate(mm, job)[0] for job in (JOB_A, JOB_B)]
    turns = _Turns()
    out: dict[int, np.ndarray] = {}

    def run(me: int, job: mg.AudioJob):
        out[me] = turns.run(me, lambda: mg.generate(mm, job, stop=turns.flag(me))[0])

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate([JOB_A, JOB_B])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(out) == [0, 1] and turns.switches > 50  # they really did alternate, token by token
    assert np.array_equal(out[0], lone[0]) and np.array_equal(out[1], lone[1])


class _Noisy:
    """A stop flag that, between every two tokens, lets another job use and reseed the global RNG."""

    def __init__(self):
        self.polls = 0

    def is_set(self) -> bool:
        self.polls += 1
        torch.manual_seed(1000 + self.polls)
        torch.rand(1000)
        return False


def test_global_rng_draws_between_tokens_do_not_change_the_music(mm):
    lone, _ = mg.generate(mm, JOB_B)
    noisy = _Noisy()
    disturbed, _ = mg.generate(mm, JOB_B, stop=noisy)
    assert noisy.polls >= 50 and np.array_equal(lone, disturbed)


def test_generation_leaves_the_global_rng_alone(mm):
    before = torch.get_rng_state()
    mg.generate(mm, JOB_A)
    assert torch.equal(before, torch.get_rng_state())


class _StopAfter:
    def __init__(self, polls: int):
        self.polls, self.limit = 0, polls

    def is_set(self) -> bool:
        self.polls += 1
        return self.polls > self.limit


def test_a_stop_mid_way_ends_the_job_without_a_result(mm):
    stop = _StopAfter(10)
    with pytest.raises(StudioError) as err:
        mg.generate(mm, JOB_A, stop=stop)
    assert err.value.key == "stopped" and stop.polls == 11  # one poll per token: it ended at the 10th token
    assert mg.generate(mm, JOB_A, stop=_StopAfter(10_000))[0].size  # the model is fine afterwards


# --- the melody variant ------------------------------------------------------------------------------------------

def _tune(rate: int = 44100, seconds: float = 2.0) -> np.ndarray:
    """A stereo int16 recording (as an upload arrives): A4 then E5."""
    t = np.arange(int(rate * seconds)) / rate
    wave = np.where(t < seconds / 2, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 659.25 * t))
    return (np.stack([wave, wave], axis=1) * 20000).astype(np.int16)


def test_the_melody_variant_loads_its_own_classes_and_a_tune_steers_it(folders, melody_mm):
    from transformers import MusicgenMelodyForConditionalGeneration, MusicgenMelodyProcessor
    assert type(melody_mm.model) is MusicgenMelodyForConditionalGeneration and mg.is_melody(melody_mm)
    assert type(melody_mm.processor) is MusicgenMelodyProcessor and mg.max_seconds(melody_mm) == 30.0
    with_tune = _job(JOB_A, melody=(_tune(), 44100))
    plain, rate = mg.generate(melody_mm, JOB_A)
    tuned, _ = mg.generate(melody_mm, with_tune)
    again, _ = mg.generate(melody_mm, with_tune)
    assert rate == SECOND and abs(tuned.size - SECOND) <= SECOND // 50
    assert np.array_equal(tuned, again) and not np.allclose(plain, tuned)


def test_a_melody_given_to_plain_musicgen_is_ignored(mm):
    assert np.array_equal(mg.generate(mm, JOB_A)[0], mg.generate(mm, _job(JOB_A, melody=(_tune(), 44100)))[0])
