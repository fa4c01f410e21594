"""Cancelled model jobs stop (issue 35, finding 4): each model endpoint, cancelled while it runs through the real
app, stops at its next step or item, writes no output, and the next job does not run beside it; the studio
functions stop at their next step / cell / item / picture when their stop flag is set.

The work is observed, not slept on: every unit of work (a UNet step, an eSpeak sentence piece, a tick of a slow
load) is recorded with its time and thread, so "stopped" means no work after the cancel and "not shared" means
the next job's first unit comes after the cancelled job's last.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from studio import api
from studio.core import config, loaders
from studio.core.errors import StudioError
from studio.core.manager import ModelManager, manager, reset_manager
from studio.speech import espeak
from tests.serving import served


MARKS: list[tuple[float, threading.Thread]] = []  # (when, which thread) of each unit of work
_on_mark: list = []  # callbacks run at each mark (unit tests set a stop flag from here)


def _mark() -> None:
    MARKS.append((time.monotonic(), threading.current_thread()))
    for callback in list(_on_mark):
        callback(len(MARKS))


@pytest.fixture(scope="module")
def env(tiny_root, tmp_path_factory):
    """Settings for the whole module (one server for every endpoint): the tiny models, a temp output folder, and
    the marks: a forward hook on every UNet, eSpeak's synth, and a load that takes a second (in ticks)."""
    import os
    tmp = tmp_path_factory.mktemp("cancel")
    old_temp = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp / "gradio")
    config.configure([], env={"STUDIO_MODEL_DIRS": str(tiny_root), "STUDIO_OUTPUT_DIR": str(tmp / "outputs"),
                              "STUDIO_HUB": "local", "STUDIO_HUB_TIMEOUT": "2"})

    def slow_load(spec, device):
        if spec.key.endswith("tiny-sdxl"):
            for _ in range(50):  # about a second of "loading", marked as it goes
                _mark()
                time.sleep(0.02)
        return loaders.load(spec, device)

    reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}, load_fn=slow_load))
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda module, _args, _out: _mark() if type(module).__name__ == "UNet2DConditionModel" else None)
    synth = espeak.Espeak.synth

    def marked_synth(self, *args, **kwargs):
        _mark()
        time.sleep(0.02)  # a piece takes ~4 ms: 40 of them could finish before the cancel reaches the server
        return synth(self, *args, **kwargs)

    espeak.Espeak.synth = marked_synth
    try:
        yield tmp / "outputs"
    finally:
        espeak.Espeak.synth = synth
        hook.remove()
        config.configure([], env={})
        reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}))
        if old_temp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = old_temp


@pytest.fixture(scope="module")
def server(env):
    with served() as (url, _demo):
        yield url


def _files(outputs: Path) -> set[Path]:
    """Saved work (not the history of who owns what)."""
    return {p for p in outputs.rglob("*") if p.is_file() and "history" not in p.relative_to(outputs).parts}


def _until(condition, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _quiet(seconds: float = 0.6, limit: float = 90) -> None:
    """Until no work has been recorded for `seconds` (a cancelled job that runs on is waited for)."""
    end = time.monotonic() + limit
    while MARKS and time.monotonic() - MARKS[-1][0] < seconds:
        assert time.monotonic() < end, "the work never stopped"
        time.sleep(0.05)


@dataclass
class Cancelled:
    jobs: list[str]  # what the operator view listed while the job ran
    mine: list[float]  # times of the cancelled job's units of work
    next_job: list[float]  # times of the following job's
    cancelled_at: float
    new_files: set[Path]

    @property
    def after_cancel(self) -> int:
        return sum(t > self.cancelled_at for t in self.mine)


def _cancel_midway(url: str, outputs: Path, api_name: str, args: tuple, then: str, then_args: tuple) -> Cancelled:
    """Start `api_name`, cancel it once its work has begun, start `then` at once (Gradio frees the slot), wait
    for it and for all work to end."""
    from gradio_client import Client

    from tabs.runner import JOBS
    owner, other = Client(url, verbose=False), Client(url, verbose=False)
    _quiet()
    before = _files(outputs)
    MARKS.clear()
    job = owner.submit(*args, api_name=api_name)
    # its work has begun and the operator view lists it
    _until(lambda: MARKS and any(j.session == owner.session_hash for j in JOBS.running()))
    first = MARKS[0][1]
    jobs = [j.what for j in JOBS.running() if j.session == owner.session_hash]
    job.cancel()
    cancelled_at = time.monotonic()
    follow = other.submit(*then_args, api_name=then)
    follow.result(timeout=120)
    _quiet()
    return Cancelled(jobs, [t for t, th in MARKS if th is first], [t for t, th in MARKS if th is not first],
                     cancelled_at, _files(outputs) - before)


def _check(run: Cancelled, what: str, steps_after: int = 3, new_files: int = 0) -> None:
    assert run.after_cancel <= steps_after, f"{run.after_cancel} units of work after the cancel"
    assert run.next_job, "the following job did no work"
    assert min(run.next_job) > max(run.mine), \
        f"the next job ran beside the cancelled one ({max(run.mine) - min(run.next_job):.2f} s overlap)"
    assert len(run.new_files) == new_files, f"files written: {sorted(p.name for p in run.new_files)}"
    assert what in run.jobs, f"no {what!r} job for the operator view: {run.jobs}"


IMAGE = ("a red circle", "", "tiny-sd15", "Euler")
AFTER_IMAGE = ("/cfg_parts", (*IMAGE, 2, 7, 1, 32, 32))  # the next learner's job: 3 x 2 steps, saves nothing
LONG_TEXT = "".join(f"第{i}句话，慢慢地说。" for i in range(1, 31))  # 30 sentence pieces
CONTROLS = (True, 2, 0, 6, 5, 0.3, 0.7, 20, "", "cmn", 175, 50, 100)  # refine ... volume
AFTER_SPEECH = ("/dialogue", ("A: 好。", "espeak", 1, 2, *CONTROLS))  # one piece; its WAV and JSON


def test_cancelled_grid_stops_saves_nothing_and_the_next_job_waits(env, server):
    run = _cancel_midway(server, env, "/xy_plot", (*IMAGE, 30, 7, 1, 64, 64, "seed", "1, 2, 3, 4, 5, 6", "cfg_scale",
                                                   "3, 7"), *AFTER_IMAGE)
    _check(run, "grid")
    assert len(run.mine) < 60  # of 12 x 30


@pytest.mark.parametrize("api_name", ["/cfg_parts", "/denoising_timeline"])
def test_cancelled_explanations_stop(env, server, api_name):
    run = _cancel_midway(server, env, api_name, (*IMAGE, 150, 7, 1, 64, 64), *AFTER_IMAGE)
    _check(run, "explain")
    assert len(run.mine) < 100


def test_cancelled_optimisation_experiment_stops(env, server):
    run = _cancel_midway(server, env, "/optimisation_experiment", ("a cat", "tiny-sd15", 150, 1, 64, 64, False),
                         *AFTER_IMAGE)
    _check(run, "experiment")
    assert len(run.mine) < 100  # of 2 x 150


def test_cancelled_story_pictures_stop_and_save_nothing(env, server):
    run = _cancel_midway(server, env, "/story_images", ("一个大红色圆形", "", "绿色背景", "", "tiny-sd15", 5, 4),
                         *AFTER_IMAGE)
    _check(run, "crossmodal")


def test_cancelled_series_stops_and_saves_nothing(env, server):
    rows = {"headers": ["a", "b", "c", "d"],
            "data": [[f"第{i}部分", "问题", "要点", "一个大红色圆形"] for i in range(6)],
            "metadata": None}
    run = _cancel_midway(server, env, "/write_series", ("拓扑学", rows, "mini-poem", "tiny-sd15", "", "", 7, 1),
                         *AFTER_IMAGE)
    _check(run, "crossmodal")


@pytest.mark.parametrize("api_name, args", [
    ("/prosody_comparison", (LONG_TEXT, "espeak", 1, 1, *CONTROLS)),
    ("/fixed_voice", (LONG_TEXT, LONG_TEXT, "espeak", 1, *CONTROLS)),
    ("/dialogue", ("\n".join(f"{'AB'[i % 2]}: 第{i}句。" for i in range(40)), "espeak", 1, 2, *CONTROLS)),
])
def test_cancelled_speech_experiments_stop_and_save_nothing(env, server, api_name, args):
    run = _cancel_midway(server, env, api_name, args, *AFTER_SPEECH)
    _check(run, "speech", new_files=2)  # only the following dialogue's WAV and JSON


def test_a_cancelled_load_keeps_no_model_and_the_next_job_waits(env, server):
    manager().unload_all()
    run = _cancel_midway(server, env, "/load", ("tiny-sdxl",), *AFTER_IMAGE)
    # One load call cannot be cut short (about a second here): it is waited for, then dropped again.
    _check(run, "load", steps_after=60)
    assert not manager().is_loaded("tiny-sdxl")


# -- the studio functions, stopped by their flag ------------------------------------------------------------------
def _stopped_after(n: int, call, outputs: Path) -> tuple[int, set[Path], StudioError]:
    """Run call(stop) with the stop flag set at the n-th unit of work: (units done, files written, the error)."""
    stop = threading.Event()
    before = _files(outputs)
    MARKS.clear()
    _on_mark.append(lambda count: stop.set() if count >= n else None)
    try:
        with pytest.raises(StudioError) as err:
            call(stop)
    finally:
        _on_mark.clear()
    return len(MARKS), _files(outputs) - before, err.value


SMALL = dict(model="tiny-sd15", sampler="Euler", seed=1, width=32, height=32, lang="en")


@pytest.mark.parametrize("name, call", [
    ("xy_plot", lambda stop: api.xy_plot("a red circle", steps=20, x_type="cfg_scale", x_values="3, 7, 12",
                                         stop=stop, **SMALL)),
    ("cfg_parts", lambda stop: api.cfg_parts("a red circle", steps=20, stop=stop, **SMALL)),
    ("denoising_timeline", lambda stop: api.denoising_timeline("a red circle", steps=20, stop=stop, **SMALL)),
    ("optimisation_experiment", lambda stop: api.optimisation_experiment("a cat", "tiny-sd15", 20, 1, 32, 32,
                                                                         stop=stop, lang="en")),
    ("story_images", lambda stop: api.story_images("一个大红色圆形", "", "", "", "tiny-sd15", 1, 3, steps=20,
                                                   stop=stop, lang="en")),
    ("write_series", lambda stop: api.write_series("拓扑学", [["一", "问", "点", "红色圆形"]] * 4, "mini-poem",
                                                   "tiny-sd15", stop=stop, lang="en")),
    ("prosody_comparison", lambda stop: api.prosody_comparison(LONG_TEXT, "espeak", 1, stop=stop, lang="en")),
    ("fixed_voice", lambda stop: api.fixed_voice(["一。", "二。", "三。", "四。"], "espeak", 1, stop=stop, lang="en")),
    ("dialogue", lambda stop: api.dialogue("A: 一。\nB: 二。\nA: 三。\nB: 四。", "espeak", stop=stop, lang="en")),
])
def test_studio_functions_stop_at_the_next_unit_and_save_nothing(env, name, call):
    done, files, err = _stopped_after(3, call, env)
    assert err.key in ("stopped", "grid_stopped"), err.key
    assert done <= 4, f"{name} did {done} units of work after its stop at 3"
    assert not files, f"{name} wrote {sorted(p.name for p in files)}"


def test_a_stopped_load_drops_the_model_it_loaded(env):
    manager().unload_all()
    done, _files_written, err = _stopped_after(5, lambda stop: api.load("tiny-sdxl", stop=stop), env)
    assert err.key == "stopped" and not manager().is_loaded("tiny-sdxl")
    stop = threading.Event()
    stop.set()
    with pytest.raises(StudioError):
        api.load("tiny-sdxl", stop=stop)  # stopped before it began: nothing loaded at all
    assert not manager().is_loaded("tiny-sdxl")


def test_a_job_waits_for_the_device_and_a_stopped_one_never_runs():
    """The scheduler's one device: a second job's call starts only after the first one's ended; one stopped while
    it waited does not run."""
    import asyncio

    from tabs.runner import Stops, run
    spans: list[tuple[float, float]] = []

    def call(stop, _progress):
        started = time.monotonic()
        time.sleep(0.3)
        spans.append((started, time.monotonic()))
        return len(spans)

    async def both():
        return await asyncio.gather(run(Stops("a").start(None), call), run(Stops("b").start(None), call))

    assert sorted(asyncio.run(both())) == [1, 2]
    (_, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end

    async def cancelled_while_waiting():
        first = asyncio.ensure_future(run(Stops("a").start(None), call))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(run(Stops("b").start(None), call))
        await asyncio.sleep(0.05)
        second.cancel()
        await first
        await asyncio.sleep(0.5)

    spans.clear()
    asyncio.run(cancelled_while_waiting())
    assert len(spans) == 1  # the cancelled job never ran


def test_a_cancelled_picture_stops_and_leaves_the_job_list(server, env):
    """generate_image streams previews (tabs.runner.stream): a cancel from the client ends the run at its next step
    and takes it off the operator's list (before, the run went on to its end and stayed listed)."""
    from gradio_client import Client

    from tabs.runner import JOBS
    client = Client(server, verbose=False)
    job = client.submit("a red circle", "", "tiny-sd15", "Euler", 150, 7, 1, 64, 64, 1, api_name="/generate_image")
    end = time.monotonic() + 60
    while not any(j.session == client.session_hash for j in JOBS.running()):
        assert time.monotonic() < end, "the run did not start"
        time.sleep(0.02)
    job.cancel()
    while any(j.session == client.session_hash for j in JOBS.running()):
        assert time.monotonic() < end, "the cancelled run is still listed"
        time.sleep(0.05)
    assert not any(out and out[1] == "1" for out in job.outputs())  # no picture: it ended before its last step


# -- 文本生成: streamed text, chat and the temperature experiment -------------------------------------------------
TOKEN_SECONDS = 0.1  # each tiny-qwen2 forward pass (one per new token) is slowed to this, so a whole run is long
TEXT_TOKENS = 128  # tiny-qwen2's window is 256: max_new_tokens 2000 is cut to half of it (with a notice)
TEXT = ("床前明月光", "tiny-qwen2", 0.7, 0, 1.0, 2000, 1.0, 1)  # prompt, model, temperature ... max_new_tokens, seed
AFTER_TEXT = ("/generate_text", ("hello", "tiny-qwen2", 0.7, 0, 1.0, 4, 1.0, 2))


@pytest.fixture
def slow_tokens():
    """Every tiny-qwen2 forward pass is a unit of work (marked), and takes TOKEN_SECONDS."""
    def token(module, _args, _out):
        if type(module).__name__ == "Qwen2ForCausalLM":
            _mark()
            time.sleep(TOKEN_SECONDS)

    hook = torch.nn.modules.module.register_module_forward_hook(token)
    try:
        yield
    finally:
        hook.remove()


@pytest.mark.parametrize("api_name, args, then, then_args", [
    ("/generate_text", TEXT, *AFTER_IMAGE),
    ("/generate_text", TEXT, *AFTER_TEXT),
    ("/chat", (TEXT[0], [], "", *TEXT[1:]), *AFTER_IMAGE),
    ("/compare_temperatures", (TEXT[0], TEXT[1], 0, 1.0, 2000, 1), *AFTER_IMAGE),
])
def test_a_cancelled_text_run_stops_and_the_next_job_goes_on(env, server, slow_tokens, api_name, args, then,
                                                             then_args):
    """A cancelled text run (its generate() in a worker thread) stops at its next token, and the next learner's
    job runs after it, not beside it, and is done while the cancelled run would still have had most of its
    tokens to make (before, chat and the experiment ran to their last token, and text ran beside the next job)."""
    run = _cancel_midway(server, env, api_name, args, then, then_args)
    _check(run, "text")
    left = TEXT_TOKENS - len(run.mine)  # tokens an unstopped run would still have made (the experiment: 3 x)
    assert max(run.next_job) - run.cancelled_at < left * TOKEN_SECONDS / 2, \
        f"the next job ended {max(run.next_job) - run.cancelled_at:.1f} s after the cancel ({left} tokens to go)"
