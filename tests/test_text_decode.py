"""The studio's own decode loop (studio.text.engine.decode): each job samples with its own torch.Generator, so jobs
interleaved between tokens (the fair scheduler pauses a job inside its stop flag's is_set()) still write their
seed's text, and it draws exactly what transformers' generate() drew before (fork_rng + manual_seed)."""
from __future__ import annotations

import threading

import pytest
import torch

from studio import api
from studio.core.manager import manager
from studio.text import engine
from studio.text.sampling import Sampling


QWEN = "tiny-qwen2"
# (prompt, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed): two different sampled jobs
JOB_A = ("明月", 1.0, 0, 1.0, 24, 1.0, 5)
JOB_B = ("春风", 1.2, 20, 0.95, 24, 1.1, 6)


def _job(spec) -> engine.TextJob:
    _prompt, temperature, top_k, top_p, new, penalty, seed = spec
    return engine.TextJob(Sampling(temperature, top_k, top_p, penalty), new, seed)


def _lone(spec) -> str:
    prompt, *knobs, seed = spec
    return api.generate_text(prompt, "mini-poem", *knobs, seed=seed).text


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


def test_two_jobs_taking_turns_between_tokens_each_write_their_lone_text(studio_env):
    lone = [_lone(JOB_A), _lone(JOB_B)]
    tm = manager().get("mini-poem")
    turns = _Turns()
    out: dict[int, list[int]] = {}

    def job(me: int, spec):
        ids = engine.encode(tm, spec[0])
        out[me] = turns.run(me, lambda: engine.generate_ids(tm, ids, _job(spec), stop=turns.flag(me)))

    threads = [threading.Thread(target=job, args=(i, spec)) for i, spec in enumerate([JOB_A, JOB_B])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(out) == [0, 1]
    assert min(len(out[0]), len(out[1])) > 5 and turns.switches > 10  # they really did alternate
    assert [tm.tokenizer.decode(out[i], skip_special_tokens=True) for i in (0, 1)] == lone


def test_two_streams_read_alternately_each_end_on_their_lone_text(studio_env):
    lone = [_lone(JOB_A), _lone(JOB_B)]
    tm = manager().get("mini-poem")
    streams = [engine.stream(tm, engine.encode(tm, spec[0]), _job(spec)) for spec in (JOB_A, JOB_B)]
    last = ["", ""]
    live = [True, True]
    steps = 0
    while any(live):
        for i, s in enumerate(streams):
            if live[i]:
                try:
                    last[i] = next(s)
                    steps += 1
                except StopIteration:
                    live[i] = False
    assert steps > 10 and last == lone


class _Noisy:
    """A stop flag that, between every two tokens, lets another job use and reseed the global RNG."""

    def __init__(self):
        self.polls = 0

    def is_set(self) -> bool:
        self.polls += 1
        torch.manual_seed(1000 + self.polls)
        torch.rand(1000)
        return False


@pytest.mark.parametrize("streaming", [False, True])
def test_global_rng_draws_between_tokens_do_not_change_the_text(studio_env, streaming):
    prompt, *knobs, seed = JOB_A
    lone = _lone(JOB_A)
    noisy = _Noisy()
    *_, last = api.stream_text(prompt, "mini-poem", *knobs, seed=seed, stop=noisy, streaming=streaming)
    assert noisy.polls > 5 and last.text == lone


def test_text_generation_leaves_the_global_rng_alone(studio_env):
    tm = manager().get("mini-poem")
    torch.manual_seed(77)
    before = torch.random.get_rng_state()
    engine.generate_ids(tm, engine.encode(tm, "山"), _job(JOB_B))
    assert torch.equal(torch.random.get_rng_state(), before)


def _transformers_generate(tm, ids: torch.Tensor, job: engine.TextJob) -> list[int]:
    """The text path before the studio's own loop: generate() on the global RNG, seeded inside fork_rng."""
    tok = tm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.seed)
        out = tm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad,
                                **engine.sampling_options(job))
    return out[0, ids.shape[1]:].tolist()


SAMPLINGS = [Sampling(0, 0, 1.0, 1.0), Sampling(0, 0, 1.0, 1.3), Sampling(1.0, 0, 1.0, 1.0),
             Sampling(0.8, 40, 0.9, 1.0), Sampling(1.3, 10, 0.95, 1.2), Sampling(0.5, 0, 0.8, 1.0)]


@pytest.mark.parametrize("sampling", SAMPLINGS, ids=lambda s: f"t{s.temperature}-k{s.top_k}-p{s.top_p}-r"
                         f"{s.repetition_penalty}")
def test_the_loop_draws_what_transformers_generate_drew(studio_env, sampling):
    tm = manager().get(QWEN)
    ids = engine.encode(tm, "hello world")
    assert engine.uses_chat(tm.tokenizer)  # through the chat template, as the page sends it
    for seed in (0, 3, 12345):
        job = engine.TextJob(sampling, 24, seed)
        expected = _transformers_generate(tm, ids, job)
        assert expected and engine.generate_ids(tm, ids, job) == expected  # 24 tokens, or up to an EOS token


def test_the_loop_stops_on_any_eos_token_as_generate_does(studio_env):
    tm = manager().get(QWEN)
    ids = engine.encode(tm, "hello world")
    job = engine.TextJob(Sampling(1.0, 0, 1.0, 1.0), 24, 8)
    free = engine.generate_ids(tm, ids, job)
    at = next(i for i in range(3, len(free)) if free[i] not in free[:i])  # a token first drawn at step >= 3
    config = tm.model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = [free[at], saved]  # a list, as Qwen2.5's generation config has
    try:
        expected = _transformers_generate(tm, ids, job)
        assert expected == free[:at + 1]  # generate keeps the EOS token it stopped on
        assert engine.generate_ids(tm, ids, job) == expected
    finally:
        config.eos_token_id = saved


@pytest.mark.parametrize("text, settled", [
    ("明月\ufffd", "明月"), ("明\ufffd月", "明\ufffd月"), ("hello wor", "hello "), ("hello world\n", "hello world\n"),
    ("床前明月光", "床前明月光"), ("ab \ufffd", "ab "), ("a\ufffd b\ufffd\ufffd", "a\ufffd "), ("", "")])
def test_a_stream_holds_back_unfinished_characters_and_words(text, settled):
    assert engine._settled(text) == settled


def test_a_byte_level_stream_grows_and_ends_on_the_generated_text(studio_env):
    tm = manager().get(QWEN)
    ids = engine.encode(tm, "床前明月光")
    for seed in (1, 2, 3):
        job = engine.TextJob(Sampling(1.0, 0, 1.0, 1.0), 32, seed)
        parts = list(engine.stream(tm, ids, job))
        assert parts[-1] == engine.generate(tm, ids, job)
        assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(parts, parts[1:]))
        assert not any(p.endswith("\ufffd") for p in parts[:-1])
