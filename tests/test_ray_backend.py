"""The Ray Serve backend (issue 40): a two-node Ray cluster on this machine, the image family deployed on it.

`ray.cluster_utils.Cluster` starts a head and a second node of 1 CPU each (standing for two machines); the web
process's side is this test process, connected as the web process connects (studio.cluster.client.connect), with
two replicas of the image deployment. Turns are taken on the replicas (studio.core.backend's docstring): the web
process only admits and routes.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import ray
from PIL import Image
from ray import serve
from ray.cluster_utils import Cluster

from studio import api
from studio.cluster import client
from studio.core import backend, config
from studio.core.errors import StudioError
from studio.core.scheduler import Ticket, reset_scheduler
from studio.image.infotext import read_png_text
from tests.conftest import ROOT


pytestmark = pytest.mark.slow  # a Ray cluster: about a minute to start

PICTURE = dict(model="mini-shapes", steps=8, width=64, height=64, cfg_scale=7)


@pytest.fixture(scope="module")
def cluster(tiny_root, tmp_path_factory):
    """Two 1-CPU nodes, the web process's settings for the Ray backend, two image and two text replicas."""
    nodes = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1))
    nodes.add_node(num_cpus=1)
    out = tmp_path_factory.mktemp("outputs")
    env = dict(STUDIO_BACKEND="ray", RAY_ADDRESS=nodes.address, STUDIO_MODEL_DIRS=str(tiny_root),
               STUDIO_OUTPUT_DIR=str(out), STUDIO_HUB="local", STUDIO_RAY_MIN_REPLICAS="2",
               STUDIO_RAY_MAX_REPLICAS="2", STUDIO_RAY_GPUS="0", STUDIO_RAY_CPUS="0.5", STUDIO_PREVIEW_EVERY="2",
               STUDIO_RAY_FAMILIES="image,text")
    values = config.configure([], env=env)
    reset_scheduler()
    client.connect(values)
    yield nodes
    backend.send_with(None)  # the next test modules run in-process
    serve.shutdown()
    ray.shutdown()
    nodes.shutdown()
    config.configure([], env={})
    reset_scheduler()


def learner(name: str, **job) -> Ticket:
    """A page's job as tabs/image.py makes it: a by_unit ticket admitted to the web process's scheduler."""
    from studio.core.scheduler import scheduler
    ticket = Ticket(f"class|{name}", what="image", by_unit=True, **job)
    scheduler().admit(ticket)
    return ticket


def run_as(ticket: Ticket, **kwargs):
    from studio.core.scheduler import scheduler
    return scheduler().run(ticket, lambda: api.generate_image(stop=ticket, **kwargs))


def test_a_picture_made_on_a_replica_equals_the_in_process_one_and_is_saved_here(cluster):
    remote = api.generate_image("a red circle on a blue background", seed=11, **PICTURE)
    local = api.generate_image.local("a red circle on a blue background", seed=11, save=False, **PICTURE)
    assert remote.seeds == local.seeds == [11] and remote.infotexts == local.infotexts
    diff = np.abs(np.asarray(remote.images[0], dtype=int) - np.asarray(local.images[0], dtype=int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.01  # same seed, same pixels (but float rounding)
    path = remote.paths[0]  # written by this (the web) process, into its own outputs folder
    assert path.is_file() and str(path).startswith(config.settings().output_dir)
    assert read_png_text(Image.open(path)) == remote.infotexts[0]


def test_requests_for_a_model_go_to_the_replica_that_holds_it(cluster):
    tickets = [learner(f"m{i}") for i in range(4)]
    for i, ticket in enumerate(tickets):
        run_as(ticket, prompt="a green square", seed=i, **PICTURE)
    replicas = {t.worker["replica"] for t in tickets}
    assert len(replicas) == 1, replicas  # multiplexing: the one that loaded mini-shapes (at random: 1 in 8)
    until(lambda: [r["replica"] for r in client.replicas() if "mini-shapes" in r["loaded"]] == list(replicas))
    image = {r["node"] for r in client.replicas() if r["family"] == "image"}
    assert image == {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # Serve spreads a family's replicas


def test_a_text_streams_from_a_replica_token_by_token_as_in_process(cluster):
    ticket = Ticket("class|t", what="text", model="mini-poem")
    from studio.core.scheduler import scheduler
    items = scheduler().run(ticket, lambda: list(api.stream_text("春风", "mini-poem", seed=5, max_new_tokens=16,
                                                                  stop=ticket)))
    local = list(api.stream_text.local("春风", "mini-poem", seed=5, max_new_tokens=16))
    assert ticket.worker["family"] == "text" and len(items) == len(local) > 3  # each item as it was made
    assert [i.text for i in items] == [i.text for i in local] and items[-1].seed == 5
    there = api.token_distribution("春风", "mini-poem", n=5)
    here = api.token_distribution.local("春风", "mini-poem", n=5)
    assert [r["token"] for r in there] == [r["token"] for r in here]  # a lookup call: its result comes back
    assert [r["p_final"] for r in there] == pytest.approx([r["p_final"] for r in here], abs=1e-5)


def test_the_operators_load_loads_on_a_replica_of_the_models_family(cluster):
    api.unload("mini-poem")
    until(lambda: all("mini-poem" not in r["loaded"] for r in client.replicas()), 30)
    row = api.load("mini-poem")  # the 模型管理 tab's button: routed to the text deployment
    assert row["key"] == "mini-poem"
    until(lambda: [r["family"] for r in client.replicas() if "mini-poem" in r["loaded"]] == ["text"])
    from studio.core.manager import manager
    assert not manager().is_loaded("mini-poem")  # not in the web process


def test_the_operators_unload_reaches_every_replica(cluster):
    api.generate_image("a red circle", seed=1, **PICTURE)
    until(lambda: any("mini-shapes" in r["loaded"] for r in client.replicas()))
    api.unload("mini-shapes")  # the 模型管理 tab's button
    until(lambda: all("mini-shapes" not in r["loaded"] for r in client.replicas()), 30)
    again = api.generate_image("a red circle", seed=1, **PICTURE)  # loaded again on first use
    assert again.seeds == [1]


def test_a_download_runs_on_every_other_machine(cluster, monkeypatch):
    """Each other machine fetches its own copy. The test's nodes share this machine's address (and so its folders);
    here they stand for two other machines. mini-shapes ships in assets/: found, nothing fetched."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ran = []
    real = NodeAffinitySchedulingStrategy
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "203.0.113.9")
    monkeypatch.setattr("ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy",
                        lambda node, soft: ran.append(node) or real(node, soft=soft))
    assert api.download("mini-shapes").endswith("mini-shapes")
    assert len(ran) == 1 and ran[0] in {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # one task per address


def test_two_learners_jobs_interleave_on_one_replica_in_turns(cluster):
    """A's batch count of 4 is 4 turns on the replica; B's picture, sent after A's began, gets a turn before A's
    last picture (or rides in one of A's calls): B never waits for A's whole job."""
    a, b = learner("a"), learner("b")
    done: dict[str, float] = {}

    def go(name, ticket, **kwargs):
        run_as(ticket, prompt="a yellow star", **dict(PICTURE, **kwargs))
        done[name] = time.monotonic()

    first = threading.Thread(target=go, args=("a", a), kwargs=dict(seed=1, batch_count=4, steps=30))
    first.start()
    until(lambda: a.started is not None)
    go("b", b, seed=2)
    first.join(120)
    assert a.worker["replica"] == b.worker["replica"]  # the same model: the same replica
    assert done["b"] < done["a"]


def test_a_stop_reaches_the_job_running_on_a_replica(cluster):
    ticket = learner("s")
    shown: list = []
    outcome: list = []

    def go():
        try:
            outcome.append(api.generate_image("a blue circle", seed=3, stop=ticket, preview=lambda *v: shown.append(v),
                                              **dict(PICTURE, steps=150, batch_count=8)))
        except StudioError as err:
            outcome.append(err)

    thread = threading.Thread(target=go)
    thread.start()
    until(lambda: shown)  # the first preview came back: it runs
    stopped = time.monotonic()
    ticket.set()
    thread.join(60)
    assert time.monotonic() - stopped < 10  # 8 x 150 steps would take minutes
    result = outcome[0]
    assert isinstance(result, StudioError) and result.key == "stopped", result
    until(lambda: all(r["busy"] == 0 for r in client.replicas()))  # nothing runs on for nobody


def test_the_teachers_pause_reaches_the_replicas_lines(cluster):
    """Paused: a learner's job waits on its replica (its page says so) while the teacher's runs; resumed, it runs."""
    from tabs import operator
    from tabs.runner import waiting_text
    teacher = type("R", (), {"username": None, "session_hash": "t"})()  # no login on 127.0.0.1: the operator
    assert "已暂停" in operator.pause("zh", teacher)
    until(lambda: all(r["paused"] for r in client.replicas()))
    pupil, demo = learner("p"), learner("t", operator=True)
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(run_as(pupil, prompt="a red circle", seed=8, **PICTURE)))
    thread.start()
    run_as(demo, prompt="a blue star", seed=9, **PICTURE)  # the teacher's demo runs meanwhile
    until(lambda: waiting_text(pupil, "zh") is not None)
    assert not outcome and pupil.started is None
    assert waiting_text(pupil, "zh").startswith("排队中")
    operator.resume("zh", teacher)
    thread.join(60)
    assert outcome[0].seeds == [8]


def test_a_replica_killed_mid_job_is_retried_and_replaced(cluster):
    ticket = learner("k")
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(run_as(ticket, prompt="a red square", seed=5,
                                                                    **dict(PICTURE, steps=60))))
    thread.start()
    until(lambda: ticket.worker is not None)
    victim = ticket.worker["replica"]
    ray.kill(ray.get_actor(f"SERVE_REPLICA::{client.app_name('image')}#{client.app_name('image')}#{victim}",
                           namespace="serve"), no_restart=True)
    thread.join(120)
    assert outcome and outcome[0].seeds == [5]  # retried on the other replica: the learner gets the picture
    image = lambda: {r["replica"] for r in client.replicas() if r["family"] == "image"}  # noqa: E731
    until(lambda: len(image()) == 2 and victim not in image(), 30)


def test_an_unreachable_cluster_fails_fast_or_falls_back():
    """`python app.py` against a cluster that is not there: a message and exit code 2 within the timeout (plus
    the import time); with STUDIO_BACKEND_FALLBACK=local the studio starts in-process instead. The two start side
    by side (each spends most of its time importing)."""
    env = dict(os.environ, STUDIO_BACKEND="ray", RAY_ADDRESS="127.0.0.1:9", STUDIO_BACKEND_TIMEOUT="3",
               GRADIO_SERVER_PORT="7991", PYTHONPATH=str(ROOT))
    began = time.monotonic()
    fails = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                              env=dict(env, STUDIO_BACKEND_FALLBACK="local", GRADIO_SERVER_PORT="7992"))
    try:
        lines = []
        for line in server.stderr:
            lines.append(line)
            if "runs in this process" in line or len(lines) > 400:
                break
        assert any("STUDIO_BACKEND_FALLBACK=local" in line for line in lines), "".join(lines[-20:])
        _, stderr = fails.communicate(timeout=120)
        assert fails.returncode == 2, stderr[-2000:]
        assert "did not answer within 3 s" in stderr or "cannot join" in stderr, stderr[-2000:]
        assert time.monotonic() - began < 90
    finally:
        for process in (fails, server):
            process.kill()
            process.wait(30)


def until(condition, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_a_routed_job_tells_its_learner_where_it_waits():
    """The page's waiting text for a job sent to the cluster: Serve's router, then the replica's line."""
    from studio.core.scheduler import Scheduler
    from tabs.runner import waiting_text
    web = Scheduler()
    job = Ticket("class|x", by_unit=True)
    web.admit(job)
    job.remote = True  # as client.run marks it
    assert waiting_text(job, "zh") == "排队中：等待一个空闲的计算节点（所有节点都满了）"
    assert waiting_text(job, "en") == "Waiting for a free worker (every worker is full)"
    job.remote_place = (2, 5.0)  # the replica's report
    assert waiting_text(job, "zh") == "排队中：前面还有 2 个任务，约 5 秒"
    web.pause()
    assert waiting_text(job, "zh").startswith("排队中：老师暂停了课堂队列")
    web.resume()
    job.remote_place, job.started = None, 1.0  # it runs
    assert waiting_text(job, "zh") is None


def test_jobs_sent_to_the_cluster_leave_the_web_processs_step_times_alone():
    """Their device time is spent on a replica (0 s here): counted, they would drag down the rate measured from the
    model's jobs that do run here (a fallback, a model the cluster does not serve)."""
    from studio.core.scheduler import Scheduler
    web = Scheduler(nominal=lambda model: 0.5)
    for remote in (True, True, False, False):  # a model's first job here loads it: not counted; the next one is
        job = Ticket("class|x", model="mini-shapes", work=20, by_unit=True)
        web.admit(job)
        job.remote, job.started, job.used = remote, 1.0, 0.0 if remote else 4.0
        web.leave(job)
    assert web.seconds_per_unit("mini-shapes") == pytest.approx(0.2)  # 4 s / 20 units, from local jobs alone


def test_a_model_no_replica_can_hold_is_refused_naming_it_and_the_largest_device(studio_env, monkeypatch):
    """Before the job waits anywhere: the replicas' reports (their budgets) against the model's size."""
    small = [dict(family="image", device="cpu", device_name="cpu", budget=1_000_000),
             dict(family="image", device="cuda:0", device_name="cuda:0 NVIDIA T4", budget=2_000_000),
             dict(family="text", device="cuda:1", device_name="cuda:1 NVIDIA H100", budget=80 << 30)]
    monkeypatch.setattr(client, "_seen", dict(at=time.monotonic(), replicas=small))
    with pytest.raises(StudioError) as refused:
        client.check_fits("image", "tiny-sd15")  # a few MB: more than either image replica's budget
    message = refused.value.message("zh")
    assert refused.value.key == "no_replica_fits" and "tiny-sd15" in message and "cuda:0 NVIDIA T4" in message
    assert "1.9 MB" in message or "2.0 MB" in message  # the largest budget, not the text replica's 80 GB
    monkeypatch.setattr(client, "_seen", dict(at=time.monotonic(), replicas=[dict(small[1], budget=1 << 30)]))
    client.check_fits("image", "tiny-sd15")  # a replica that can hold it: the job goes


def test_auto_resources_share_the_cluster_so_every_familys_replicas_start():
    """STUDIO_RAY_CPUS / STUDIO_RAY_GPUS=auto: 1 / k of a unit, so fractional GPUs fit whole on cards."""
    assert client.share(None, 1, 4) == 0.25  # four families on one card
    assert client.share(None, 3, 4) == 0.5  # not 0.75: two of those would not fit on one card
    assert client.share(None, 8, 4) == 1.0 and client.share(None, 2, 4) == 0.5
    assert client.share(None, 0, 4) == 0.0  # no GPUs: CPU replicas
    assert client.share(0.3, 8, 4) == 0.3  # as the operator set it


def test_the_pages_show_what_each_replica_holds_and_runs(studio_env, monkeypatch):
    """模型管理's loaded table and registry, and the operator's job table, from the replicas' reports."""
    import tabs.models
    import tabs.operator
    from studio.core.scheduler import scheduler
    report = dict(replica="r1", family="image", node="node12345678", loaded=["mini-shapes"],
                  models=[dict(title="mini-shapes", device="cpu", parked=False, bytes=24 << 20, load_seconds=0.7,
                               last_used=time.time(), in_use=0)])
    monkeypatch.setattr(tabs.models, "on_cluster", lambda: True)
    monkeypatch.setattr(tabs.models, "cluster_replicas", lambda: [report])
    rows = tabs.models.loaded_rows(dict(loaded=[], replicas=[report]), "zh")
    assert rows[0][:3] == ["mini-shapes", "cpu · image r1 @ node1234", "24.0 MB"]
    shapes = next(r for r in tabs.models.registry_rows("zh") if r[0] == "mini-shapes")
    assert shapes[-1] == "是"  # loaded: on a replica
    job = Ticket("class|a", what="image", model="mini-shapes")
    scheduler().admit(job)
    job.remote, job.started, job.worker = True, 1.0, dict(replica="r1", family="image")
    running, _ = tabs.operator._rows("zh")
    assert running[0][3] == "mini-shapes @ r1"  # the replica running it
    scheduler().leave(job)
