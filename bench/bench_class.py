"""A class of 40 on one server: fair turns and merged batches against the single line they replaced (issues 38, 39).

    .venv/bin/python -m bench.bench_class [--learners 40] [--quick] [--steps 20] [--torch-threads 1]
                                          [--turn-seconds 5] [--arms fifo,fair,merge] [--json FILE]

Three arms in one run, on the same machine, with the same seeds and lesson script: "fifo" (STUDIO_QUEUE_POLICY=fifo,
the old single line: arrival order, each job to its end), "fair" (round-robin turns over learners,
STUDIO_TURN_SECONDS as given, STUDIO_MAX_MERGE=1: every picture its own call) and "merge" (the default: fair turns,
and the pictures with the same settings that wait when a turn comes ride in its call, STUDIO_MAX_MERGE=8). Each
arm starts its own `python app.py` (as bench_server.serve: free port, temp output folder, STUDIO_HUB=local) with
login (a shared "class" login, so each gradio_client Client is its own learner, and the "teacher" operator, who
loads both models before the class starts) and STUDIO_QUEUE_LOG in a temp file.

The class: N learners, each its own Client in its own thread, start within the first 5 s (the teacher said "now
try") and follow the lesson with random think times (seeded per learner, 2-8 s after each result): 1) a mini-shapes
picture (20 steps, CFG 7), 2) the same with CFG 3 or 9, 3) an X/Y grid (CFG 3, 9 x steps 10, 20: 4 cells), 4) a
mini-poem text (48 new tokens). Besides them one learner makes batch count 8 (batch size 1) three times, and one
trains a LoRA on mini-shapes (the inkwash demo dataset, 60 steps). `--steps 10` halves the pictures' steps (the
grid's: 5, 10), and `--torch-threads 1` gives the server one torch thread, for a busy machine. `--quick`: 4
learners who make one picture, one batch count 4 and a 10-step LoRA (a smoke check, under 2 minutes on an idle
machine).

Everything below is read from the scheduler's log of the arm (the teacher's warm-up, an operator's, left out):
- wait of a job: its first "start" minus its "submit"; p50 / p95 (nearest rank) / max over all jobs, and per
  learner (the median learner's p50, the worst learner's p95);
- pictures per minute: pictures made (a batch's each, a grid's cells; successful requests) / the arm's wall time
  (the teacher's "now try" to the last result); device busy: the sum of turns (start/resume to yield/aside/
  release/end; a unit riding in another's call is inside that call's turn) over the same wall time; merged: the
  units that rode in another job's call ("merge" events) and the mean units per device call of an image job;
- Jain's index J = (sum x)^2 / (n sum x^2) over learners, two ways: x_i = (sum of learner i's waits) / (sum of the
  work of their jobs, in the scheduler's units: denoising steps x pictures, tokens, training steps), and x_i =
  learner i's mean wait per job (unnormalised);
- round-robin bound: for each single-picture image job (image tab, batch 1 x 1), the turns (start/resume) granted
  to other learners' jobs between its submit and its start, against the learners other than its own with a job in
  line (submitted, not ended) at its submit; the share within that bound and the worst excess; and the same counted
  from the moment the job began waiting (its "estimate": an image job checks its input after its submit). Fair
  turns promise it: a learner joins the round behind everyone in line, each of whom gets one turn;
- single picture, submit to result: a single-picture job's submit to its end (its wait, any time it stepped aside
  for a model another job holds, e.g. a LoRA training, and the picture itself);
- wait estimate: |"estimate".seconds - actual| where actual = first start - the estimate's own time (the moment
  the learner is shown it), over the jobs that waited at least 0.5 s; median absolute and median relative error.
A request that fails (refused, an error) is counted and shown, not fatal.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_server import serve


LOGINS = {"STUDIO_AUTH": "teacher:pt,class:pc", "STUDIO_OPERATORS": "teacher", "STUDIO_SHARED_LOGINS": "class"}
SAMPLER = "DPM++ 2M Karras"
STEPS = 20  # of every picture (--steps); the grid's steps axis is STEPS / 2, STEPS
PROMPTS = ("a red circle", "a blue square on the left", "a green triangle", "a yellow star, large")


# -- the class ---------------------------------------------------------------------------------------------------
@dataclass
class Done:
    action: str
    pictures: int
    ok: bool
    error: str = ""
    at: float = field(default_factory=time.time)  # when the result (or the error) came
    sent: float = 0.0  # when the learner clicked


@dataclass
class Learner:
    name: str
    actions: list  # (action name, client.predict args, api_name, pictures)
    first_delay: float
    thinks: list
    log: list = field(default_factory=list)


def image(prompt, cfg, seed, count=1):
    return ("image", (prompt, "", "mini-shapes", SAMPLER, STEPS, cfg, seed, 64, 64, 1, count), "/generate_image", count)


def lesson(k: int, rng: random.Random, quick: bool) -> list:
    prompt, seed = PROMPTS[k % len(PROMPTS)], 1000 + k
    steps = [image(prompt, 7, seed),
             image(prompt, rng.choice((3, 9)), seed),
             ("grid", (prompt, "", "mini-shapes", SAMPLER, STEPS, 7, seed, 64, 64, "cfg_scale", "3, 9", "steps",
                       f"{STEPS // 2}, {STEPS}"), "/xy_plot", 4),
             ("text", ("床前明月光", "mini-poem", 0.8, 40, 0.95, 48, 1.1, seed), "/generate_text", 0)]
    return steps[:1] if quick else steps


def lora(files: list[str], steps: int) -> tuple:
    from gradio_client import handle_file

    from studio.lora.train import COURSE_TARGETS
    return ("lora", ([handle_file(f) for f in files], "\n".join(CAPTIONS), "mini-shapes", "class-lora", 8, 8, 1e-4,
                     steps, 1, 0, 0, list(COURSE_TARGETS)), "/train_lora", 0)


CAPTIONS: list[str] = []


def demo_files() -> list[str]:
    from studio import api
    images, captions = api.inkwash_dataset(12)
    folder = Path(tempfile.mkdtemp(prefix="bench-class-data-"))
    CAPTIONS[:] = captions
    paths = []
    for i, picture in enumerate(images):
        paths.append(str(folder / f"{i:02d}.png"))
        picture.save(paths[-1])
    return paths


def make_class(n: int, quick: bool, seed: int = 0) -> list[Learner]:
    """The same learners (script, think times) for every arm."""
    learners = []
    files = demo_files()
    for k in range(n + 2):
        rng = random.Random(f"{seed}-{k}")
        if k < n:
            actions = lesson(k, rng, quick)
        elif k == n:  # the one who makes batch count 8, several times
            actions = [image("a red circle", 7, 500 + i, count=4 if quick else 8) for i in range(1 if quick else 3)]
        else:  # the one who trains a LoRA
            actions = [lora(files, 10 if quick else 60)]
        name = "batch8" if k == n else "lora" if k > n else f"learner{k:02d}"
        learners.append(Learner(name, actions, rng.uniform(0, 5), [rng.uniform(2, 8) for _ in actions]))
    return learners


def attend(learner: Learner, client, start: float) -> None:
    """One learner's lesson: wait, act, wait for the result, think, act again."""
    time.sleep(max(0.0, start + learner.first_delay - time.time()))
    for n, ((action, args, api_name, pictures), think) in enumerate(zip(learner.actions, learner.thinks)):
        if n:
            time.sleep(think)
        sent = time.time()
        try:
            client.predict(*args, api_name=api_name)
            learner.log.append(Done(action, pictures, True, sent=sent))
        except Exception as exc:  # refused, a server error: counted, the lesson goes on
            learner.log.append(Done(action, 0, False, f"{type(exc).__name__}: {str(exc)[:120]}", sent=sent))


def connect(url: str, who: tuple[str, str]):
    """A learner's browser. httpx's default 5 s timeout is too short for a server busy with 40 learners on 2 cores:
    a request to join the queue timed out while the server still took the job (a first run: 26 of 164 requests in
    the fifo arm), so the learner went on with a job still in line."""
    from gradio_client import Client
    return Client(url, auth=who, verbose=False, download_files=False, httpx_kwargs={"timeout": 300})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def warm_up(url: str) -> None:
    """The teacher loads both models (an operator's jobs, left out of the figures)."""
    teacher = connect(url, ("teacher", "pt"))
    teacher.predict(*image("a red circle", 7, 1)[1], api_name="/generate_image")
    teacher.predict("床前", "mini-poem", 0.8, 40, 0.95, 8, 1.1, 1, api_name="/generate_text")


ARMS = {"fifo": dict(STUDIO_QUEUE_POLICY="fifo", STUDIO_MAX_MERGE="1"),
        "fair": dict(STUDIO_QUEUE_POLICY="fair", STUDIO_MAX_MERGE="1"),
        "merge": dict(STUDIO_QUEUE_POLICY="fair", STUDIO_MAX_MERGE="8"),
        # issue 40: the image family's work on two Ray Serve replicas of 1 CPU each (a local head the web process
        # starts), each with its own fair line and merged calls; texts and the LoRA stay in the web process.
        "ray": dict(STUDIO_QUEUE_POLICY="fair", STUDIO_MAX_MERGE="8", STUDIO_BACKEND="ray", STUDIO_WORKERS="auto",
                    STUDIO_RAY_MIN_REPLICAS="2", STUDIO_RAY_MAX_REPLICAS="2", STUDIO_RAY_GPUS="0",
                    STUDIO_RAY_CPUS="1")}


def run_arm(arm: str, learners: list[Learner], turn_seconds: float, threads: int = 0) -> dict:
    """One arm: its own server and log; the class's results and the log's figures."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-class-{arm}-"))
    log = folder / "queue.jsonl"
    port, size = free_port(), len(learners)
    server = serve(port, str(folder / "outputs"), **ARMS[arm], STUDIO_QUEUE_LOG=str(log),
                   STUDIO_TURN_SECONDS=str(turn_seconds), STUDIO_CLASS_SIZE=str(size),
                   STUDIO_QUEUE_SIZE=str(max(100, 2 * size)), **LOGINS, **torch_threads(threads))
    url = f"http://127.0.0.1:{port}/"
    for learner in learners:
        learner.log = []
    try:
        warm_up(url)
        with ThreadPoolExecutor(8) as pool:
            clients = list(pool.map(lambda _: connect(url, ("class", "pc")), learners))
        start, load = time.time(), [os.getloadavg()[0]]
        threads = [threading.Thread(target=attend, args=(lr, cl, start), daemon=True)
                   for lr, cl in zip(learners, clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load.append(os.getloadavg()[0])
        cpu = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        if arm == "ray":  # the local Ray head the server started (its raylet, Serve, the replicas)
            subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True)
    wall = max(d.at for lr in learners for d in lr.log) - start  # "now try" to the last result
    seen = client_figures(learners, wall)
    if arm != "ray":  # the ray arm's turns are taken on the replicas: the web process's log has no turns to read
        seen |= figures(read_log(log), learners, wall, start)
    else:
        seen["replicas"] = [replica_figures(read_log(path)) for path in sorted(folder.glob("queue.jsonl.replica-*"))]
    return seen | {"log": str(log), "load": load, "server_cpu": cpu}


def replica_figures(events: list[dict]) -> tuple[int, int, float]:
    """(class jobs that started, units that rode in another's call, units per call) on one replica."""
    started = sum(1 for e in events if e["event"] == "start" and not e["operator"])
    rides, per_call = merged_calls(events)
    return started, rides, per_call


def client_figures(learners: list[Learner], wall: float) -> dict:
    """What the learners saw, from their own clocks: every arm has these."""
    done = [d for lr in learners for d in lr.log]
    clicks = [d.at - d.sent for d in done if d.ok and d.action == "image" and d.pictures == 1]
    return dict(wall=wall, requests=len(done), failed=sum(not d.ok for d in done),
                errors=sorted({d.error for d in done if not d.ok}), pictures=sum(d.pictures for d in done),
                click=(percentile(clicks, 0.5), percentile(clicks, 0.95), max(clicks, default=math.nan)))


def torch_threads(threads: int) -> dict:
    """--torch-threads N: the server's torch (OpenMP) threads. With 2 threads on 2 cores, any other busy process
    stalls each parallel op while one thread waits for its core: a 10-step mini-shapes picture took 7-13 s instead
    of 1 s on this machine while other sessions ran tests. One thread leaves the other core to them."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}


def cpu_seconds(pid: int) -> float:
    """CPU time the server process has used (Linux /proc; NaN elsewhere): how much of the 2 cores it got."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


# -- the log's figures -------------------------------------------------------------------------------------------
def read_log(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def jain(xs: list[float]) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    square = sum(x * x for x in xs)
    return (sum(xs) ** 2) / (len(xs) * square) if square else 1.0


def jobs_of(events: list[dict]) -> dict[int, dict]:
    """Per class job: owner, work, what, and the index and time of each of its first events."""
    jobs: dict[int, dict] = {}
    for i, e in enumerate(events):
        if e["operator"]:
            continue
        job = jobs.setdefault(e["job"], dict(owner=e["owner"], work=e["work"], what=e["what"], turns=[]))
        if e["event"] in ("submit", "estimate", "start", "end") and e["event"] not in job:
            job[e["event"]] = (i, e["t"])
        if e["event"] == "estimate":
            job["estimated"] = e["seconds"]
    return jobs


def turn_seconds_used(events: list[dict], since: float) -> float:
    """Sum of turns: start/resume to the same job's next yield/aside/release/end (a rider's turn is its leader's)."""
    began, busy = {}, 0.0
    for e in events:
        if e["operator"] or e["wall"] < since:
            continue
        if e["event"] in ("start", "resume"):
            began[e["job"]] = e["t"]
        elif e["event"] == "merge":
            began.pop(e["job"], None)
        elif e["event"] in ("yield", "aside", "release", "end") and e["job"] in began:
            busy += e["t"] - began.pop(e["job"])
    return busy


def merged_calls(events: list[dict]) -> tuple[int, float]:
    """(units that rode in another job's call, mean units per device call of the image tab's jobs)."""
    rides = sum(1 for e in events if e["event"] == "merge" and not e["operator"])
    leads = sum(1 for e in events if e["event"] in ("start", "resume") and e["what"] in ("image", "grid")
                and not e["operator"]) - rides
    return rides, (leads + rides) / max(1, leads)


def single(job: dict) -> bool:
    """A single picture: the image tab, STEPS x 1 x 1 (a batch of 2 or more is twice that or more)."""
    return job["what"] == "image" and job["work"] <= STEPS + 1  # tabs/image.py: steps x 1 x 1 (+ 1 in some versions)


def single_latencies(jobs: dict) -> list[float]:
    """Submit to end of the single-picture image jobs: the wait, any time stepped aside, and the picture itself."""
    return [job["end"][1] - job["submit"][1] for job in jobs.values()
            if single(job) and "end" in job and "start" in job]


def waits(jobs: dict) -> dict[str, list[tuple[float, float]]]:
    """owner -> [(wait, work)] of their jobs that started."""
    by_owner = defaultdict(list)
    for job in jobs.values():
        if "submit" in job and "start" in job:
            by_owner[job["owner"]].append((job["start"][1] - job["submit"][1], job["work"]))
    return by_owner


def round_robin(events: list[dict], jobs: dict, since: str = "submit") -> tuple[int, int, int]:
    """(single-picture jobs, how many within the bound, worst excess), counted from the job's submit, or with
    since="estimate" from the moment it began waiting (an image job checks its input in between: by_unit)."""
    ends = {j: job["end"][0] for j, job in jobs.items() if "end" in job}
    checked = within = 0
    worst = -10**9
    for job_id, job in jobs.items():
        if not single(job) or "start" not in job:
            continue
        s, g = job.get(since, job["submit"])[0], job["start"][0]
        in_line = {o["owner"] for j, o in jobs.items() if j != job_id and "submit" in o and o["submit"][0] < s
                   and ends.get(j, 10**12) > s} - {job["owner"]}
        turns = sum(1 for e in events[s + 1:g] if e["event"] in ("start", "resume") and e["owner"] != job["owner"])
        checked += 1
        within += turns <= len(in_line)
        worst = max(worst, turns - len(in_line))
    return checked, within, worst


def estimate_errors(jobs: dict) -> tuple[float, float, int]:
    absolute, relative = [], []
    for job in jobs.values():
        if "estimate" not in job or "start" not in job:
            continue
        actual = job["start"][1] - job["estimate"][1]
        if actual >= 0.5:
            absolute.append(abs(job["estimated"] - actual))
            relative.append(absolute[-1] / actual)
    return percentile(absolute, 0.5), percentile(relative, 0.5), len(absolute)


def figures(events: list[dict], learners: list[Learner], wall: float, start: float) -> dict:
    jobs = jobs_of(events)
    by_owner = waits(jobs)
    every = [w for pairs in by_owner.values() for w, _ in pairs]
    per = [[w for w, _ in pairs] for pairs in by_owner.values()]
    checked, within, worst = round_robin(events, jobs)
    _, within_wait, worst_wait = round_robin(events, jobs, since="estimate")
    abs_err, rel_err, estimated = estimate_errors(jobs)
    latency = single_latencies(jobs)
    counts = defaultdict(int)
    for e in events:
        counts[e["event"]] += not e["operator"]
    return dict(
        learners=len(by_owner), jobs=len(every), p50=percentile(every, 0.5), p95=percentile(every, 0.95),
        max=max(every, default=math.nan), learner_p50=statistics.median([percentile(w, 0.5) for w in per]),
        learner_p95=max(percentile(w, 0.95) for w in per),
        single=(percentile(latency, 0.5), percentile(latency, 0.95), max(latency, default=math.nan)),
        busy=turn_seconds_used(events, start) / wall,
        jain_work=jain([sum(w for w, _ in p) / sum(u for _, u in p) for p in by_owner.values()]),
        jain_mean=jain([statistics.mean(w for w, _ in p) for p in by_owner.values()]),
        rr_checked=checked, rr_within=within, rr_worst=worst, rr_within_wait=within_wait,
        rr_worst_wait=worst_wait, est_abs=abs_err, est_rel=rel_err,
        est_jobs=estimated, yields=counts["yield"], asides=counts["aside"], merged=merged_calls(events),
        per_learner={owner: [round(percentile(w, q), 2) for q in (0.5, 0.95, 1.0)] for owner, w in
                     zip(by_owner, per)},
        special={lr.name: [round(w, 1) for w, _ in by_owner_of(lr, jobs, by_owner)] for lr in learners[-2:]})


def by_owner_of(learner: Learner, jobs: dict, by_owner: dict) -> list:
    """The waits of the batch / LoRA learner: the owner whose jobs are of that kind."""
    kind = learner.actions[0][0]
    for owner, pairs in by_owner.items():
        whats = {j["what"] for j in jobs.values() if j["owner"] == owner}
        works = {j["work"] for j in jobs.values() if j["owner"] == owner}
        if (kind == "lora" and whats == {"finetune"}) or (kind == "image" and whats == {"image"}
                                                          and min(works) > STEPS + 1):
            return pairs
    return []


# -- the table ---------------------------------------------------------------------------------------------------
ROWS = [
    ("learners seen in the log / class jobs that started", lambda f: f"{f['learners']} / {f['jobs']}"),
    ("requests / failed", lambda f: f"{f['requests']} / {f['failed']}"),
    ('arm wall time ("now try" to the last result)', lambda f: f"{f['wall']:.0f} s"),
    ("wait p50 / p95 / max, all class jobs", lambda f: f"{f['p50']:.1f} / {f['p95']:.1f} / {f['max']:.1f} s"),
    ("single picture, submit to result p50 / p95 / max", lambda f: " / ".join(f"{v:.1f}" for v in f["single"])
                                                                   + " s"),
    ("single picture, click to result (client's clock) p50 / p95 / max",
     lambda f: " / ".join(f"{v:.1f}" for v in f["click"]) + " s"),
    ("median learner's p50 wait", lambda f: f"{f['learner_p50']:.1f} s"),
    ("worst learner's p95 wait", lambda f: f"{f['learner_p95']:.1f} s"),
    ("batch-8 learner's waits", lambda f: listed(f["special"].get("batch8", []))),
    ("LoRA learner's wait", lambda f: listed(f["special"].get("lora", []))),
    ("pictures made / per minute", lambda f: f"{f['pictures']} / {60 * f['pictures'] / f['wall']:.1f}"),
    ("device busy (sum of turns / wall time)", lambda f: f"{100 * f['busy']:.0f}%"),
    ("Jain's index, x = sum of waits / sum of work", lambda f: f"{f['jain_work']:.3f}"),
    ("Jain's index, x = mean wait per job", lambda f: f"{f['jain_mean']:.3f}"),
    ("single pictures within the round-robin bound", lambda f: share(f["rr_within"], f["rr_checked"])),
    ("worst turns over the bound (negative: under it)", lambda f: f"{f['rr_worst']}"),
    ("the same from the job's wait (its input checked) / worst", lambda f: share(f["rr_within_wait"], f["rr_checked"])
                                                                           + f" / {f['rr_worst_wait']}"),
    ("wait estimate: median abs error / relative (jobs)", lambda f: f"{f['est_abs']:.1f} s / "
                                                                   f"{100 * f['est_rel']:.0f}% ({f['est_jobs']})"),
    ("machine load (1-min average) at start / end", lambda f: " / ".join(f"{v:.1f}" for v in f["load"])),
    ("server CPU time (incl. start-up and warm-up)", lambda f: f"{f['server_cpu']:.0f} s"),
    ("turns handed on (yield / aside)", lambda f: f"{f['yields']} / {f['asides']}"),
    ("units riding in another's call / units per image call", lambda f: f"{f['merged'][0]} / {f['merged'][1]:.2f}"),
    ("ray: per replica, image jobs started / units riding / units per call",
     lambda f: "; ".join(f"{a} / {b} / {c:.2f}" for a, b, c in f["replicas"])),
]


def listed(waits: list[float]) -> str:
    return ", ".join(f"{w:.1f}" for w in waits) + " s" if waits else "—"


def share(part: int, whole: int) -> str:
    return f"{part} / {whole} ({100 * part / max(1, whole):.0f}%)"


def _cell(cell, figures: dict) -> str:
    try:
        return cell(figures)
    except KeyError:  # a figure this arm's log cannot give (the ray arm's turns)
        return "—"


def table(results: dict[str, dict]) -> str:
    arms = list(results)
    lines = ["| figure | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(cell, results[a]) for a in arms) + " |")
    return "\n".join(lines)


def main() -> None:
    global STEPS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--learners", type=int, default=40)
    p.add_argument("--quick", action="store_true", help="4 learners, one action each (a smoke check)")
    p.add_argument("--turn-seconds", type=float, default=5.0, help="STUDIO_TURN_SECONDS of the fair arm")
    p.add_argument("--steps", type=int, default=STEPS, help="denoising steps of every picture (a busy machine: 10)")
    p.add_argument("--torch-threads", type=int, default=0, help="OMP_NUM_THREADS of the server (0: torch's own)")
    p.add_argument("--arms", default="fifo,fair,merge",
                   help="which arms, in this order (of: fifo, fair, merge, ray)")
    p.add_argument("--json", default="", help="also write every figure to this file")
    args = p.parse_args()
    STEPS = args.steps
    learners = make_class(4 if args.quick else args.learners, args.quick)
    results = {}
    for arm in args.arms.split(","):
        results[arm] = run_arm(arm, learners, args.turn_seconds, args.torch_threads)
    print(table(results))
    for arm, f in results.items():
        for error in f["errors"]:
            print(f"- {arm}: {error}")
        print(f"- {arm}: log {f['log']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
