"""The web process's side of the Ray backend: join the cluster, deploy the families, send a routed call.

The web process stays a plain Gradio process (no Serve ingress): it holds the page, the learners' limits, the
outputs folder and history, and sends each routed call (studio.core.backend) to its family's deployment through a
`DeploymentHandle` with `stream=True`: the replica's place-in-line, previews and progress come back as they happen.
A stop (the learner's button, a closed tab) cancels the request (`DeploymentResponseGenerator.cancel()`); the
replica sets the job's stop flag, so it leaves the line or ends at its next step.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from studio.cluster.board import NAMESPACE, board
from studio.core import backend
from studio.core.errors import StudioError
from studio.core.scheduler import Ticket


FAMILIES = ("image",)  # the families whose calls are routed today (studio.core.backend.routed)
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
    deploy(values)
    backend.send_with(run, everywhere)


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


def deploy(values: dict, families=FAMILIES) -> None:
    """Start each family's Serve application unless it already runs (another web process, or `serve deploy`)."""
    from ray import serve
    serve.start(proxy_location="Disabled")  # handles only: no HTTP proxy (kept as is when Serve already runs)
    running = serve.status().applications
    for family in families:
        name = app_name(family)
        if name in running and running[name].status == "RUNNING":
            continue
        serve.run(worker_app(family, values), name=name, route_prefix=None)


def worker_app(family: str, values: dict):
    """The family's deployment, bound with the web process's settings (paths made absolute: the workers run from
    the same checkout on every node, see README "Scaling out")."""
    from studio.cluster.worker import FamilyWorker
    sent = sent_settings(values)
    gpus = _gpus(values["ray_gpus"])
    return FamilyWorker.options(
        name=app_name(family),
        ray_actor_options=dict(num_cpus=values["ray_cpus"], num_gpus=gpus, runtime_env=dict(env_vars=dict(
            PYTHONPATH=str(REPO), STUDIO_RAY_MODELS_PER_REPLICA=str(values["ray_models_per_replica"])))),
        autoscaling_config=dict(min_replicas=values["ray_min_replicas"],
                                max_replicas=max(values["ray_min_replicas"], values["ray_max_replicas"]),
                                target_ongoing_requests=max(1, values["ray_ongoing"] // 2)),
        max_ongoing_requests=values["ray_ongoing"],
    ).bind(family, sent)


def sent_settings(values: dict) -> dict:
    """This process's settings for a worker: work runs there, folders as absolute paths (a queue log gets each
    replica's own file beside this process's: QUEUE_LOG.replica-ID)."""
    sent = dict(values, backend="local")
    if sent["queue_log"]:
        sent["queue_log"] = str(Path(sent["queue_log"]).resolve())
    sent["model_dirs"] = [str(Path(d).resolve()) for d in values["model_dirs"]]
    sent["output_dir"] = str(Path(values["output_dir"]).resolve())
    return sent


def _gpus(text: str) -> float:
    if str(text).strip().lower() != "auto":
        return float(text)
    import ray
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


# -- one call ------------------------------------------------------------------------------------------------------
def run(family: str, path: str, arguments: dict):
    """The routed call's result, computed on a replica; its previews, progress and place reach the local
    callbacks and ticket. A job whose replica was lost is sent once more (Serve routes it to another replica, or
    to the one that replaces it); lost again, the learner gets a message."""
    stop, preview, progress = (arguments.pop(k, None) for k in ("stop", "preview", "progress"))
    model = arguments.get("model") if isinstance(arguments.get("model"), str) else ""
    job = _job(stop, model)
    if isinstance(stop, Ticket):
        stop.remote = True  # its turns are taken on the replica: the local line leaves it out
    for attempt in (1, 2):
        try:
            return _stream(family, path, arguments, job, model, stop, preview, progress)
        except _Lost as lost:
            if attempt == 2 or _stopped(stop):
                raise StudioError("stopped" if _stopped(stop) else "worker_lost", reason=str(lost)) from None


class _Lost(Exception):
    """The replica running the job went away (killed, its node lost) before the job ended."""


def _stream(family, path, arguments, job, model, stop, preview, progress):
    from ray import serve
    from ray.exceptions import RayError, TaskCancelledError
    from ray.serve.exceptions import RayServeException
    handle = serve.get_app_handle(app_name(family)).options(stream=True)
    if model:
        handle = handle.options(multiplexed_model_id=model)
    response = handle.run.remote(path, arguments, job, preview is not None, progress is not None)
    finished = threading.Event()
    threading.Thread(target=_cancel_on_stop, args=(stop, response, finished), daemon=True).start()
    try:
        for kind, value in response:
            if kind == "error":
                raise _error(value)
            if kind == "done":
                return value
            _show(kind, value, stop, preview, progress)
    except TaskCancelledError:
        raise StudioError("stopped") from None
    except (RayError, RayServeException) as exc:  # the replica died, or none is left to take it
        raise _Lost(type(exc).__name__) from exc
    finally:
        finished.set()
        if isinstance(stop, Ticket):
            stop.remote_place = None
    raise _Lost("the stream ended without a result")


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
