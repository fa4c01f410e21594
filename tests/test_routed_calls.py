"""Routed calls (studio.core.backend) as the web process makes them, without a cluster.

A loopback sender stands for the replica: it runs the family's call in this process as a worker does (no files
written there, the items of a streamed call one by one), so what the web process itself adds is checked in
seconds: it writes the files a worker's result needs, streams a text's items, keeps the families the cluster does
not serve in-process, and takes no local turn for work that runs elsewhere. The Ray transport is
tests/test_ray_backend.py.
"""
from __future__ import annotations

import json
import threading
import wave

import numpy as np
import pytest

from studio import api
from studio.core import backend
from studio.core.scheduler import Ticket, reset_scheduler


@pytest.fixture
def sent(studio_env):
    """The families in `families` go through the loopback; each call's (family, arguments) is kept."""
    calls: list[tuple[str, dict]] = []

    def loopback(family, path, arguments, stream):
        assert "save" not in arguments or arguments["save"] is False  # a worker writes no files
        for key in ("stop", "preview", "progress"):  # as studio.cluster.client.run: they stay in the web process
            arguments.pop(key, None)
        calls.append((family, dict(arguments)))
        return backend.ROUTED[path][1](**arguments)  # a generator for a streamed call, item by item

    def start(families):
        backend.send_with(loopback, None, families)
        return calls
    yield start
    backend.send_with(None)


def _wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def test_a_workers_speech_is_saved_here_as_in_process(sent):
    calls = sent(["speech"])
    remote = api.synthesize_speech("你好，世界。", "espeak", rate=200, pitch=70)
    local = api.synthesize_speech.local("你好，世界。", "espeak", rate=200, pitch=70)
    assert [family for family, _ in calls] == ["speech"]
    assert np.abs(_wav(remote.path) / 32767 - remote.audio).max() < 1e-4  # the worker's audio, written here
    sidecar = lambda r: json.loads(r.path.with_suffix(".json").read_text(encoding="utf-8"))  # noqa: E731
    assert {k: v for k, v in sidecar(remote).items() if k not in ("file", "AIGC")} == \
        {k: v for k, v in sidecar(local).items() if k not in ("file", "AIGC")}
    assert sidecar(remote)["rate"] == 200 and remote.path != local.path


def test_an_experiment_of_worker_calls_writes_its_files_once_all_are_made(sent):
    calls = sent(["speech"])
    results = api.fixed_voice(["第一句。", "第二句。"], "espeak")
    assert len(calls) == 2 and all(r.path is not None and r.path.is_file() for r in results)


def test_a_workers_clip_is_saved_here_with_the_seed_it_chose(sent):
    calls = sent(["video"])
    small = dict(steps=2, num_frames=5, fps=8, width=32, height=32)
    remote = api.generate_video("a red circle moving right", None, "tiny-wan", seed=-1, **small)
    assert calls[0][1]["seed"] == -1  # the worker chose it
    params = json.loads(remote.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert params["seed"] == remote.seed != -1 and params["num_frames"] == 5 and params["fps"] == 8
    assert remote.gif.is_file()
    local = api.generate_video.local("a red circle moving right", None, "tiny-wan", seed=remote.seed, save=False,
                                     **small)
    assert np.array_equal(np.stack([np.asarray(f) for f in remote.frames]),
                          np.stack([np.asarray(f) for f in local.frames]))


def test_a_text_streams_item_by_item_and_the_last_is_the_whole_answer(sent):
    calls = sent(["text"])
    items = list(api.stream_text("春风", "mini-poem", seed=5, max_new_tokens=12))
    assert len(items) > 3 and calls[0][0] == "text"
    assert items[-1].text == api.generate_text("春风", "mini-poem", seed=5, max_new_tokens=12).text
    assert len(calls) == 2  # generate_text went through the same routed stream


def test_a_family_the_cluster_does_not_serve_runs_here(sent):
    calls = sent(["image"])
    api.synthesize_speech("你好。", "espeak", save=False)
    assert calls == []


def test_work_sent_away_takes_no_turn_on_the_web_processs_device(sent):
    """A text job of learner B is not held behind learner A's job holding the web process's device: its turns are
    taken where it runs."""
    sent(["text"])
    line = reset_scheduler()
    try:
        holding, release = threading.Event(), threading.Event()
        a = Ticket("class|a", what="image")
        line.admit(a)
        threading.Thread(target=line.run, args=(a, lambda: (holding.set(), release.wait(30))), daemon=True).start()
        assert holding.wait(10)
        b = Ticket("class|b", what="text", model="mini-poem")
        line.admit(b)
        done = []
        runner = threading.Thread(target=lambda: done.append(line.run(b, lambda: api.generate_text(
            "春风", "mini-poem", seed=5, max_new_tokens=4))), daemon=True)
        runner.start()
        runner.join(30)
        release.set()
        assert done and done[0].text
    finally:
        reset_scheduler()


def test_a_learners_lora_goes_by_content_with_their_rights_and_is_kept_by_hash(sent, models_dir):
    """The worker acts for nobody: the web process resolves the LoRA as the learner may use it, then sends its
    bytes (the same picture as in-process); a classmate cannot name it. The worker keeps the file by its hash."""
    from studio.core import files
    from studio.core.backend import Sent, kept_path
    from studio.core.errors import StudioError
    from tests import tiny_models
    folder = files.lora_root() / "alice-style"
    tiny_models.build_lora(models_dir / "tiny-sd15", folder)
    alice, bob = files.Who("alice", "", False), files.Who("bob", "", False)
    files.claim_lora(folder, alice)
    picture = dict(prompt="a cat", model="tiny-sd15", sampler="Euler", steps=3, seed=9, width=64, height=64,
                   save=False, loras={"alice-style": 1.0})
    calls = sent(["image"])
    with files.acting_as(bob), pytest.raises(StudioError) as refused:
        api.generate_image(**picture)
    assert refused.value.key == "unknown_lora" and calls == []  # refused here, nothing sent
    with files.acting_as(alice):
        remote = api.generate_image(**picture)
        local = api.generate_image.local(**picture)
    (shipped, weight), = calls[0][1]["loras"]
    assert isinstance(shipped, Sent) and weight == 1.0 and kept_path(shipped).is_file()
    assert kept_path(shipped).read_bytes() == (folder / "pytorch_lora_weights.safetensors").read_bytes()
    assert np.array_equal(np.asarray(remote.images[0]), np.asarray(local.images[0]))
    assert remote.infotexts == local.infotexts  # the same Lora hashes line


def test_a_control_unit_goes_to_the_worker_with_its_picture_read_here(sent, tmp_path):
    """A unit's image given as a path is a file of the web machine: it is read here and sent as pixels; the worker's
    picture and infotext equal the in-process ones."""
    from PIL import Image, ImageDraw
    drawn = Image.new("RGB", (32, 32), "white")
    ImageDraw.Draw(drawn).rectangle((6, 6, 26, 26), outline="black", width=2)
    drawn.save(tmp_path / "drawing.png")
    picture = dict(prompt="a cat", model="tiny-sd15", sampler="Euler", steps=3, seed=9, width=32, height=32,
                   save=False, controls=[{"kind": "scribble", "image": str(tmp_path / "drawing.png"),
                                          "model": "tiny-controlnet-sd15"}])
    calls = sent(["image"])
    remote = api.generate_image(**picture)
    local = api.generate_image.local(**picture)
    unit, = calls[0][1]["controls"]
    assert isinstance(unit.image, Image.Image) and unit.image.size == (32, 32)
    assert np.array_equal(np.asarray(remote.images[0]), np.asarray(local.images[0]))
    assert remote.infotexts == local.infotexts and "ControlNet 0: " in remote.infotexts[0]
