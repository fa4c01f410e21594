"""The web process's side of the Ray backend: join the cluster, deploy the families, send a routed call.

The web process stays a plain Gradio process (no Serve ingress): it holds the page, the learners' limits, the
outputs folder and history, and sends each routed call (studio.core.backend) to its family's deployment through a
`DeploymentHandle` with `stream=True`: the replica's place-in-line, previews and progress come back as they happen.
A stop (the learner's button, a closed tab) cancels the request (`DeploymentResponseGenerator.cancel()`); the
replica sets the job's stop flag, so it leaves the line or ends at its next step.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from studio.cluster.board import NAMESPACE, board
from studio.core import backend
from studio.core.errors import StudioError
from studio.core.scheduler import Ticket


FAMILIES = ("image", "text", "speech", "video", "music")  # the families with routed calls (studio.core.backend.routed)
REPO = Path(__file__).resolve().parents[2]


class BackendUnreachable(RuntimeError):
    pass


def app_name(family: str) -> str:
    return f"studio-{family}"


# -- start-up ------------------------------------------------------------------------------------------------------
def connect(values: dict) -> None:
    """Join RAY_ADDRESS's cluster (or start a local head with STUDIO_WORKERS=auto) within STUDIO_BACKEND_TIMEOUT,
    then make sure each family's deployment runs. BackendUnreachable when the cluster does not answer in time."""
    import ray
    if not values["ray_address"] and values["workers"] != "auto":
        raise BackendUnreachable("STUDIO_BACKEND=ray needs RAY_ADDRESS (a running cluster) or STUDIO_WORKERS=auto")
    if not values["ray_address"]:
        # A local head, started in this (the main) thread: Ray's processes die with the thread that started them
        # (Linux's parent-death signal), and a local start cannot hang on an address.
        ray.init(namespace=NAMESPACE, log_to_driver=False, ignore_reinit_error=True)
    else:
        _join(values["ray_address"], values["backend_timeout"])
    families = served(values)
    deploy(values, families)
    backend.send_with(run, everywhere, families)


def _join(address: str, timeout: float) -> None:
    """ray.init on a running cluster, given up after `timeout` s (on a dead address it retries for a minute)."""
    import ray
    outcome: list = []

    def join():
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, ignore_reinit_error=True)
            outcome.append(None)
        except Exception as exc:  # refused, wrong address: said at once
            outcome.append(exc)

    thread = threading.Thread(target=join, daemon=True)  # a driver only: no process is started by this thread
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise BackendUnreachable(f"the Ray cluster at {address} did not answer within {timeout:g} s "
                                 f"(STUDIO_BACKEND_TIMEOUT)")
    if outcome[0] is not None:
        raise BackendUnreachable(f"cannot join the Ray cluster at {address}: {outcome[0]}")


def served(values: dict) -> tuple[str, ...]:
    """The families STUDIO_RAY_FAMILIES sends to the cluster (the others' work stays in the web process)."""
    return tuple(f for f in FAMILIES if f in values["ray_families"])


def deploy(values: dict, families=FAMILIES) -> None:
    """Start each family's Serve application unless it already runs (another web process, or `serve deploy`), all
    at once; BackendUnreachable when they are not running within STUDIO_RAY_START_TIMEOUT (replicas asking for more
    CPUs or GPUs than the cluster has wait for ever: said, not waited for)."""
    from ray import serve
    serve.start(proxy_location="Disabled")  # handles only: no HTTP proxy (kept as is when Serve already runs)
    running = serve.status().applications
    missing = [f for f in families if not (app_name(f) in running and running[app_name(f)].status == "RUNNING")]
    if not missing:
        return
    serve.run_many([serve.RunTarget(worker_app(f, values, families), name=app_name(f), route_prefix=None)
                    for f in missing], wait_for_applications_running=False)
    deadline = time.monotonic() + values["ray_start_timeout"]
    while True:
        states = {f: serve.status().applications.get(app_name(f)) for f in missing}
        if all(a is not None and a.status == "RUNNING" for a in states.values()):
            return
        failed = [f for f, a in states.items() if a is not None and a.status == "DEPLOY_FAILED"]
        if failed or time.monotonic() > deadline:
            raise BackendUnreachable(_not_started(values, families, failed or [f for f in missing if not (
                states[f] is not None and states[f].status == "RUNNING")], states))
        time.sleep(0.5)


def _not_started(values: dict, families, late: list[str], states: dict) -> str:
    import ray
    cpus, gpus = resources(values, len(families))
    have = ray.cluster_resources()
    why = "; ".join(f"{app_name(f)}: {getattr(states[f], 'message', '') or getattr(states[f], 'status', '?')}"
                    for f in late)
    return (f"the workers did not start within {values['ray_start_timeout']:g} s (STUDIO_RAY_START_TIMEOUT): {why}. "
            f"Each replica asks for {cpus:g} CPUs and {gpus:g} GPUs (STUDIO_RAY_CPUS / STUDIO_RAY_GPUS), "
            f"{values['ray_min_replicas']} replicas per family for {', '.join(families)}; the cluster has "
            f"{have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} GPUs")


def worker_app(family: str, values: dict, families=FAMILIES):
    """The family's deployment, bound with the web process's settings (paths made absolute: the workers run from
    the same checkout on every node, see README "Scaling out")."""
    from studio.cluster.worker import FamilyWorker
    sent = sent_settings(values)
    cpus, gpus = resources(values, len(families))
    return FamilyWorker.options(
        name=app_name(family),
        ray_actor_options=dict(num_cpus=cpus, num_gpus=gpus, runtime_env=dict(env_vars=dict(
            PYTHONPATH=str(REPO), STUDIO_RAY_MODELS_PER_REPLICA=str(values["ray_models_per_replica"])))),
        autoscaling_config=dict(min_replicas=values["ray_min_replicas"],
                                max_replicas=max(values["ray_min_replicas"], values["ray_max_replicas"]),
                                target_ongoing_requests=max(1, values["ray_ongoing"] // 2)),
        max_ongoing_requests=values["ray_ongoing"],
    ).bind(family, sent)


def resources(values: dict, families: int) -> tuple[float, float]:
    """(CPUs, GPUs) per replica: as set, or (auto) the cluster's shared by every family's fewest replicas."""
    import ray
    have = ray.cluster_resources()
    replicas = max(1, families * values["ray_min_replicas"])
    return tuple(share(values[f"ray_{kind.lower()}s"], have.get(kind, 0), replicas) for kind in ("CPU", "GPU"))


def share(setting: float | None, have: float, replicas: int) -> float:
    """The set value; auto: 1 / k of a unit, k the smallest whole number that lets `replicas` fit in `have` units
    (a fraction of a GPU must fit on one card: 3 GPUs for 4 replicas give 0.5 each, not 0.75), at most 1."""
    if setting is not None:
        return float(setting)
    if have < 1:
        return round(have, 3) if replicas == 1 else 0.0
    return 1.0 / math.ceil(replicas / int(have))


def sent_settings(values: dict) -> dict:
    """This process's settings for a worker: work runs there, folders as absolute paths (a queue log gets each
    replica's own file beside this process's: QUEUE_LOG.replica-ID)."""
    sent = dict(values, backend="local")
    if sent["queue_log"]:
        sent["queue_log"] = str(Path(sent["queue_log"]).resolve())
    sent["model_dirs"] = [str(Path(d).resolve()) for d in values["model_dirs"]]
    sent["output_dir"] = str(Path(values["output_dir"]).resolve())
    return sent


# -- one call ------------------------------------------------------------------------------------------------------
def run(family: str, path: str, arguments: dict, stream: bool = False):
    """The routed call's result (`stream`: an iterator of its items), computed on a replica; its previews, progress
    and place reach the local callbacks and ticket. A job whose replica was lost is sent once more (Serve routes
    it to another replica, or to the one that replaces it); lost again, the learner gets a message."""
    stop, preview, progress = (arguments.pop(k, None) for k in ("stop", "preview", "progress"))
    model = next((arguments[k] for k in ("model", "key") if isinstance(arguments.get(k), str)), "")  # load: key
    if isinstance(stop, Ticket):
        stop.remote = True  # its turns are taken on the replica: the local line leaves it out
    if model:
        check_fits(family, model)
    arguments = backend.each_sent(arguments, _by_ref)
    send = dict(family=family, path=path, arguments=arguments, job=_job(stop, model), model=model, stop=stop,
                preview=preview, progress=progress)
    return _items(send) if stream else _result(send)


def _result(send: dict):
    for attempt in (1, 2):
        try:
            for kind, value in _events(**send):
                if kind == "done":
                    return value
            raise _Lost("the stream ended without a result")
        except _Lost as lost:
            if attempt == 2 or _stopped(send["stop"]):
                raise StudioError("stopped" if _stopped(send["stop"]) else "worker_lost", reason=str(lost)) from None


def _items(send: dict):
    """A streamed call's items as they come. Stopped after its first item, it just ends (the learner keeps what
    came, as in-process); a replica lost before the first item is retried once."""
    given = 0
    for attempt in (1, 2):
        try:
            for kind, value in _events(**send):
                if kind == "item":
                    given += 1
                    yield value
                elif kind == "done":
                    return
            raise _Lost("the stream ended without a result")
        except StudioError as err:
            if err.key == "stopped" and given:
                return
            raise
        except _Lost as lost:
            if _stopped(send["stop"]) and given:
                return
            if attempt == 2 or given or _stopped(send["stop"]):
                raise StudioError("stopped" if _stopped(send["stop"]) else "worker_lost", reason=str(lost)) from None


_refs: "OrderedDict[str, object]" = OrderedDict()  # sha256 -> the object ref of a sent file's bytes
_refs_lock = threading.Lock()
KEEP_REFS = 64  # sent files kept in the object store for the next job (a class's LoRAs)


def _by_ref(sent: backend.Sent) -> backend.Sent:
    """A sent file's bytes go into Ray's object store once; jobs carry the ref, and a worker that already keeps the
    file never fetches it (studio.cluster.worker)."""
    import ray
    with _refs_lock:
        if sent.sha not in _refs:
            _refs[sent.sha] = ray.put(backend.sent_bytes(sent))  # read only for a file not sent yet
            while len(_refs) > KEEP_REFS:
                _refs.popitem(last=False)
        _refs.move_to_end(sent.sha)
        return replace(sent, data=_refs[sent.sha])


def check_fits(family: str, model: str) -> None:
    """A clear message, before the job waits anywhere, when no replica of the family could hold `model` even with
    nothing else loaded: naming the model and the largest device. Nothing is said while no replica has reported
    yet (the deployment starting), or for a model name the replica itself will refuse in the learner's words."""
    from studio.core.i18n import human_bytes
    from studio.core.manager import estimate_bytes
    from studio.core.specs import resolve
    try:
        spec = resolve(model)
    except StudioError:
        return
    reports = [r for r in _recent_replicas() if r["family"] == family and "budget" in r]

    def need(device: str) -> int:  # read from the weights' headers once per model and device kind
        key = (model, spec.path, "cuda" if device.startswith("cuda") else "cpu")
        if key not in _needs:
            _needs[key] = estimate_bytes(spec, device)
        return _needs[key]

    if not reports or any(need(r["device"]) <= r["budget"] for r in reports):
        return
    largest = max(reports, key=lambda r: r["budget"])
    raise StudioError("no_replica_fits", model=spec.title, need=human_bytes(need(largest["device"])),
                      device=largest.get("device_name", largest["device"]), budget=human_bytes(largest["budget"]))


_needs: dict[tuple, int] = {}


_seen: dict = dict(at=0.0, replicas=[])
SEEN_FOR = 2.0  # seconds a read of the board serves the next jobs' checks (a class submits many at once)


def _recent_replicas() -> list[dict]:
    if time.monotonic() - _seen["at"] > SEEN_FOR:
        try:
            _seen.update(at=time.monotonic(), replicas=replicas())
        except Exception:  # the board does not answer: no check, the job goes as it would
            _seen.update(at=time.monotonic(), replicas=[])
    return _seen["replicas"]


class _Lost(Exception):
    """The replica running the job went away (killed, its node lost) before the job ended."""


def _events(family, path, arguments, job, model, stop, preview, progress):
    """The replica's ("item", x) and ("done", result) events; the others reach the ticket and callbacks here."""
    from ray import serve
    from ray.exceptions import RayError, TaskCancelledError
    from ray.serve.exceptions import RayServeException
    handle = serve.get_app_handle(app_name(family)).options(stream=True)
    if model:
        handle = handle.options(multiplexed_model_id=model)
    response = handle.run.remote(path, arguments, job, preview is not None, progress is not None)
    finished = threading.Event()
    threading.Thread(target=_cancel_on_stop, args=(stop, response, finished), daemon=True).start()
    ended = False
    try:
        for kind, value in response:
            if kind == "error":
                raise _error(value)
            if kind in ("item", "done"):
                ended = kind == "done"
                yield kind, value
            else:
                _show(kind, value, stop, preview, progress)
    except TaskCancelledError:
        raise StudioError("stopped") from None
    except (RayError, RayServeException) as exc:  # the replica died, or none is left to take it
        raise _Lost(type(exc).__name__) from exc
    finally:
        finished.set()
        if not ended:
            response.cancel()  # an error, or the caller dropped the stream: the replica stops the job too
        if isinstance(stop, Ticket):
            stop.remote_place = None


def _show(kind: str, value, stop, preview, progress) -> None:
    if kind == "worker" and isinstance(stop, Ticket):
        stop.worker = value
    elif kind == "place" and isinstance(stop, Ticket):
        stop.remote_place = tuple(value)
    elif kind == "start" and isinstance(stop, Ticket):
        stop.remote_place = None
        stop.started = stop.started or time.monotonic()
    elif kind == "preview" and preview is not None:
        preview(*value)
    elif kind == "progress" and progress is not None:
        progress(*value)


def _cancel_on_stop(stop, response, finished: threading.Event) -> None:
    if stop is None:
        return
    while not finished.is_set():
        if threading.Event.wait(stop, 0.1):  # the flag itself, not the ticket's turn-taking is_set()
            response.cancel()
            return


def _stopped(stop) -> bool:
    return stop is not None and threading.Event.is_set(stop)


def _error(value) -> Exception:
    if value[0] == "studio":
        return StudioError(value[1], **value[2])
    return StudioError("internal", reason=f"{value[1]}: {value[2]}")


def _job(stop, model: str) -> dict:
    """What the replica's scheduler needs of the job: whose it is (for fair turns) and how much work."""
    if not isinstance(stop, Ticket):  # a Python script's call
        return dict(owner=f"python|{os.getpid()}", model=model)
    return dict(owner=stop.owner, learner=stop.learner, operator=stop.operator, what=stop.what, model=model,
                work=stop.work, turn_work=stop.turn_work, size=stop.size, lang=stop.lang, by_unit=stop.by_unit)


# -- the operator's view and actions -------------------------------------------------------------------------------
def replicas() -> list[dict]:
    """Each live replica's node, device, loaded models, jobs running / waiting and done (its last report)."""
    import ray
    return sorted(ray.get(board().replicas.remote(), timeout=10), key=lambda i: (i["family"], i["node"], i["replica"]))


def pause(paused: bool) -> None:
    """The class's queue paused (or resumed) on every replica: no learner's job starts there meanwhile."""
    import ray
    ray.get(board().pause.remote(paused), timeout=10)


def everywhere(action: str, model: str) -> None:
    """The operator's model action on the cluster: "unload" / "unload_all" reach every replica at its next report
    (a model in use stays for its job); "download" / "delete" run on every other machine, one task per address
    (nodes on this machine share its folders, which this process handles itself)."""
    import ray
    if action in ("unload", "unload_all"):
        ray.get(board().command.remote(action, model), timeout=10)
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from studio.core.config import settings
    here = ray.util.get_node_ip_address()
    machines = {n["NodeManagerAddress"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    task = _remote_model_action()
    tasks = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
             .remote(action, model, sent_settings(settings())) for ip, node in machines.items() if ip != here]
    ray.get(tasks)  # a failure on a node raises here, with its message


def _model_action(action: str, model: str, values: dict) -> str:
    """On a node: the download or delete as this process would do it, in that node's model folders."""
    from studio.core import config, models
    config.use(dict(values, backend="local"))
    return models.download(model) if action == "download" else models.delete(model)


def _remote_model_action():
    import ray
    return ray.remote(num_cpus=0, runtime_env=dict(env_vars=dict(PYTHONPATH=str(REPO))))(_model_action)
