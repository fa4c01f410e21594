"""One model family's Ray Serve deployment: its replicas run the studio's routed calls (studio.core.backend).

Each replica is a small studio without a page: the web process's settings, its own model manager (its memory
budget decides what stays loaded) and its own fair scheduler. Serve routes a job to a replica that holds its model
(`@serve.multiplexed`); up to `max_ongoing_requests` jobs wait in the replica's scheduler, which gives them turns
round the learners and merges their pictures into batches as the web process would in-process.

A job streams ("worker", replica) first, ("place", (ahead, seconds)) while it waits, ("start", when) at its first
turn, ("preview", ...) and ("progress", ...) as the engine reports, ("item", x) for each item of a streamed call
(a text token by token), then ("done", result) or ("error", ...). A
cancelled request (the learner's stop, a closed tab) sets the job's stop flag: it leaves the line, or ends at its
next step.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import threading
import time
from dataclasses import replace

from ray import serve

from studio.core import backend, imports
from studio.core.errors import StudioError


MODELS_PER_REPLICA = int(os.environ.get("STUDIO_RAY_MODELS_PER_REPLICA", "2"))  # read where the replica starts
PLACE_EVERY = 0.5  # seconds between place updates while a job waits


class _Held:
    """A model this replica was routed for; when multiplexing drops it (least recently used), the manager unloads
    it unless a job is using it (the manager never evicts a model in use; it then goes when the budget needs it)."""

    def __init__(self, model: str):
        self.model = model

    def __del__(self):
        from studio.core.manager import manager
        try:
            manager().unload(self.model)
        except Exception:  # in use, or never loaded: nothing to free now
            pass


@serve.deployment
class FamilyWorker:
    def __init__(self, family: str, values: dict | None = None):
        from studio.core import config
        from studio.core.scheduler import Scheduler, reset_scheduler
        values = dict(values) if values else dict(config.configure(env=dict(os.environ)))
        values["backend"] = "local"  # the work is here
        s = config.use(values)
        if s.memory_budget is None:  # auto: this replica's share of its card and node, not all of them
            _budget_by_share()
        imports.warm()  # before the first jobs arrive together (studio.core.imports)
        self.family = family
        self.replica = serve.get_replica_context().replica_id.unique_id
        log = f"{s.queue_log}.replica-{self.replica}" if s.queue_log else ""
        # The web process already applied the learners' limits; the replica only orders what reached it.
        self.scheduler = reset_scheduler(Scheduler(turn_seconds=s.turn_seconds, user_queue=10**6, queue_size=10**6,
                                                   policy=s.queue_policy, max_merge=s.max_merge, log=log))
        self.done = 0  # jobs ended here, however
        self.commands_seen = 0
        threading.Thread(target=self._report, name="report", daemon=True).start()

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def _hold(self, model: str) -> _Held:
        return _Held(model)  # loaded by the job itself, in its turn (the manager's lazy load)

    async def run(self, path: str, kwargs: dict, job: dict, want_preview: bool, want_progress: bool):
        """Run one routed call as a job of this replica's queue, streaming what the page shows meanwhile."""
        model = serve.get_multiplexed_model_id()
        if model:
            await self._hold(model)
        family, fn = _routed(path)
        if backend.family_of(family, kwargs) != self.family:  # only this family's routed calls, nothing else
            yield ("error", ("other", "LookupError", f"{path} is not a {self.family} call"))
            return
        yield ("worker", dict(replica=self.replica, family=self.family))
        kwargs = await asyncio.to_thread(backend.each_sent, kwargs, _fetched)  # off the replica's event loop
        events: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        ticket = _ticket(job)
        self.scheduler.admit(ticket)
        put = _sender(loop, events)
        if want_preview:
            kwargs["preview"] = lambda *value: put(("preview", value))
        if want_progress:
            kwargs["progress"] = lambda fraction, text="": put(("progress", (fraction, text)))
        if "stop" in inspect.signature(fn).parameters:  # the job's flag and turns (a lookup call has none)
            kwargs["stop"] = ticket
        threading.Thread(target=self._work, args=(fn, kwargs, ticket, put), daemon=True).start()
        try:
            async for item in _relay(events, ticket, self.scheduler):
                yield item
        except asyncio.CancelledError:  # the learner stopped, or the page went away
            ticket.set()
            raise

    def _work(self, fn, kwargs: dict, ticket, put) -> None:
        try:
            put(("done", self.scheduler.run(ticket, lambda: _drained(fn(**kwargs), put))))
        except StudioError as err:
            put(("error", ("studio", err.key, err.params)))
        except Exception as exc:  # the engine's own failure: the web process shows the studio's message
            put(("error", ("other", type(exc).__name__, str(exc)[:500])))
        finally:
            self.done += 1

    def _report(self) -> None:
        """Post this replica's state on the board every REPORT_EVERY seconds; apply the pause and commands."""
        import ray

        from studio.cluster.board import REPORT_EVERY, board
        notes = board()
        while True:
            try:
                paused, commands = ray.get(notes.report.remote(self.info()), timeout=10)
                self._obey(paused, commands)
            except Exception:  # the cluster is shutting down, or the board moved: try again
                pass
            time.sleep(REPORT_EVERY)

    def _obey(self, paused: bool, commands: list) -> None:
        from studio.core.manager import manager
        if paused != self.scheduler.paused:
            self.scheduler.pause() if paused else self.scheduler.resume()
        for number, action, model in commands:
            try:
                if action == "unload":
                    manager().unload(model)
                elif action == "unload_all":
                    manager().unload_all()
            except Exception:  # in use: it stays for its job, and the budget evicts it later
                pass
            self.commands_seen = number

    def info(self) -> dict:
        """What the operator's view shows of this replica."""
        import ray

        from studio.core.manager import manager
        status, line = manager().status(), self.scheduler.snapshot()
        return dict(replica=self.replica, family=self.family, node=ray.get_runtime_context().get_node_id(),
                    pid=os.getpid(), device=status["device"], loaded=[m["key"] for m in status["loaded"]],
                    models=status["loaded"], budget=manager().budget(status["device"]),
                    device_name=_device_name(status["device"]),
                    busy=sum(1 for r in line if r["state"] == "running"),
                    waiting=sum(1 for r in line if r["state"] != "running"),
                    done=self.done, paused=self.scheduler.paused, commands_seen=self.commands_seen)


def _budget_by_share() -> None:
    """The replica's manager with budgets of its share (Ray's assigned resources): `num_gpus` of one card (0.25:
    a quarter of its free memory), `num_cpus` of the node's CPUs for RAM. Replicas of the four families started on
    one machine at once each saw all of its free memory."""
    import ray

    from studio.core import device as dev
    from studio.core.manager import ModelManager, reset_manager
    assigned = ray.get_runtime_context().get_assigned_resources()
    node = ray.get_runtime_context().get_node_id()
    cpus = next((n["Resources"].get("CPU", 1) for n in ray.nodes() if n["NodeID"] == node), 1) or 1
    shares = {"cpu": min(1.0, assigned.get("CPU", 1) / cpus), "cuda": min(1.0, assigned.get("GPU", 1) or 1)}
    manager = ModelManager.from_settings()
    budgets = {kind: int(dev.default_budget(kind) * share) for kind, share in shares.items()
               if kind == "cpu" or manager.device.startswith("cuda")}
    reset_manager(ModelManager(budgets=budgets, device=manager.device, resident=manager.resident))


def _device_name(device: str) -> str:
    """The device as the operator knows it ("cuda:0 NVIDIA H100 80GB HBM3"; "cpu")."""
    if not device.startswith("cuda"):
        return device
    import torch
    return f"{device} {torch.cuda.get_device_name(torch.device(device))}"


def _routed(path: str):
    """(family, function) of a call marked @routed; its module is imported on first use (that registers it).
    Only studio modules are imported, and only marked calls run."""
    module = path.partition(":")[0]
    if path not in backend.ROUTED and module.startswith("studio.") and module.replace(".", "_").isidentifier():
        importlib.import_module(module)
    return backend.ROUTED.get(path, (None, None))


def _fetched(sent: backend.Sent) -> backend.Sent:
    """A sent file's bytes, fetched from the object store only when this machine does not keep it yet."""
    import ray
    if backend.kept_path(sent).is_file():
        return replace(sent, data=None)
    return replace(sent, data=ray.get(sent.data, timeout=60))


def _drained(result, put):
    """A streamed call's items sent as they come, inside the job's turns (its result is then None); any other
    call's result as it is."""
    if not inspect.isgenerator(result):
        return result
    for item in result:
        put(("item", item))
    return None


def _ticket(job: dict):
    from studio.core.scheduler import Ticket
    return Ticket(job.get("owner", "python"), learner=job.get("learner", ""), operator=job.get("operator", False),
                  what=job.get("what", ""), model=job.get("model", ""), work=job.get("work", 1.0),
                  turn_work=job.get("turn_work"), size=job.get("size", ""), lang=job.get("lang", "zh"),
                  by_unit=job.get("by_unit", False))


def _sender(loop, events: asyncio.Queue):
    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, item)
        except RuntimeError:  # the replica's loop closed: nobody listens
            pass
    return put


async def _relay(events: asyncio.Queue, ticket, scheduler):
    """The job's events as they come; its place in line while it waits (sent again only when it changed)."""
    shown, started = None, False
    while True:
        try:
            kind, value = await asyncio.wait_for(events.get(), PLACE_EVERY)
        except asyncio.TimeoutError:
            kind, value = None, None
        if not started and ticket.started is not None:
            started = True
            yield ("start", time.time())
        if kind is None:
            if not started:
                where = scheduler.place(ticket)
                if where is not None and where != shown:
                    shown = where
                    yield ("place", (where[0], round(where[1], 1)))
            continue
        yield (kind, value)
        if kind in ("done", "error"):
            return


# `serve deploy studio/cluster/serve.yaml`: the deployments with the settings of the node's environment.
image_app = FamilyWorker.options(name="studio-image").bind("image")
text_app = FamilyWorker.options(name="studio-text").bind("text")
speech_app = FamilyWorker.options(name="studio-speech").bind("speech")
video_app = FamilyWorker.options(name="studio-video").bind("video")
music_app = FamilyWorker.options(name="studio-music").bind("music")
