"""A model call in a worker thread, so the page gets previews while it runs and each browser can stop its own run.

    async for kind, value in stream(lambda preview, stop, progress: api.generate_image(..., preview=preview,
                                                                                    stop=stop, progress=progress),
                              stops.start(request), progress):
        ...  # kind "preview": what preview() was given; kind "done": the call's result

A handler without previews awaits run() instead (an async handler, so that Gradio's cancel reaches it at once):

    return await run(stops, request, lambda stop, progress: api.xy_plot(..., stop=stop, progress=progress), progress)

Either way the call runs as a Job (the operator view lists it and may stop it), holding DEVICE: one model job
on the device at a time, even while a cancelled one finishes its current step after Gradio freed its slot.
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import gradio as gr

from studio.api import StudioError


@dataclass
class Job:
    """A run that can be stopped: listed in the operator view, which may stop it."""
    id: int
    what: str  # the tab
    session: str
    user: str | None
    stop: threading.Event
    started: float = field(default_factory=time.time)


class Jobs:
    """Every stoppable run in progress, across tabs (for the operator view)."""

    def __init__(self):
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, what: str, request: gr.Request | None, stop: threading.Event) -> Job:
        job = Job(next(self._ids), what, getattr(request, "session_hash", None) or "local",
                  getattr(request, "username", None), stop)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def done(self, stop: threading.Event) -> None:
        with self._lock:
            for job_id in [i for i, j in self._jobs.items() if j.stop is stop]:
                del self._jobs[job_id]

    def running(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started)

    def cancel(self, job_id: int) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return False
        job.stop.set()
        return True


JOBS = Jobs()


class Stops:
    """One stop flag per browser session: the stop button ends that session's run only."""
    instances: list["Stops"] = []  # every one, for tabs.sessions to drop a closed page's flags

    def __init__(self, what: str = ""):
        self.what = what
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        Stops.instances.append(self)

    def _key(self, request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    def start(self, request: gr.Request | None) -> threading.Event:
        with self._lock:
            event = self._events[self._key(request)] = threading.Event()
        JOBS.add(self.what, request, event)
        return event

    def stop(self, request: gr.Request | None) -> None:
        with self._lock:
            event = self._events.get(self._key(request))
        if event is not None:
            event.set()

    def forget(self, session: str) -> None:
        """A closed page's flag goes (a run of it still holds its own reference: the page's end stops it)."""
        with self._lock:
            self._events.pop(session, None)


# One model job at a time on the device. Gradio's concurrency_id="gpu" slot queues model events, but it frees
# the slot as soon as an event is cancelled, while the worker thread runs on to its next step (a thread cannot be
# killed): the next job's worker waits here until the cancelled one has really ended.
DEVICE = threading.Lock()


def _on_device(call: Callable, stop: threading.Event):
    """call() holding DEVICE; nothing at all when the job was stopped while it waited for the device."""
    with DEVICE:
        if stop.is_set():
            raise StudioError("stopped")
        return call()


async def stream(call: Callable, stop: threading.Event, progress: gr.Progress | None) -> AsyncIterator[tuple]:
    """Run call(preview, stop, progress) in a thread; yield ("preview", value) as it comes, then ("done", result).

    An async generator, so that Gradio's cancel (its owner cancelled, the page went away) lands here at once, at the
    await, and sets the stop flag: the call ends at its next step. (A sync generator learns nothing until Gradio
    resumes it, which it never does after a cancel: the run went on to its end and stayed in the job list.)
    Progress is forwarded from the event's task, where Gradio expects it. Errors re-raise here."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, item)
        except RuntimeError:  # the server closed meanwhile: nobody listens
            pass

    def work():
        try:
            result = _on_device(lambda: call(lambda *value: put(("preview", value)), stop,
                                            lambda fraction, text: put(("progress", (fraction, text)))), stop)
            put(("done", result))
        except BaseException as exc:  # handed to the event's task, which shows it as a message
            put(("error", exc))

    # The event's context goes along: studio.core.files learns from it who makes the files the run saves.
    threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True, name="studio-run").start()
    finished = False
    try:
        while True:
            kind, value = await events.get()
            if kind == "progress":
                if progress is not None:
                    progress(value[0], desc=value[1])
            elif kind == "error":
                finished = True
                raise value
            else:
                finished = kind == "done"
                yield kind, value
                if finished:
                    return
    finally:
        JOBS.done(stop)
        if not finished:  # cancelled, or the page went away: end the run too
            stop.set()


async def run(stops: Stops, request: gr.Request | None, call: Callable, progress: gr.Progress | None = None):
    """Await call(stop, progress) run in a worker thread as `stops`' Job; its result, or its error re-raised.

    For handlers without previews. Gradio cancels an event (its owner cancelled, the page went away) by cancelling
    the handler's task: an async handler gets the CancelledError at once, here, and sets the stop flag, so the
    studio function ends at its next step or item (a sync handler would only learn of it when the call returned).
    Progress is forwarded from the event's task, where Gradio expects it."""
    stop = stops.start(request)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    updates: queue.SimpleQueue = queue.SimpleQueue()

    def settle(result, error):
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(result)

    def work():
        try:
            result, error = _on_device(lambda: call(stop, lambda fraction, text: updates.put((fraction, text))),
                                       stop), None
        except BaseException as exc:  # handed to the event's task, which shows it as a message
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the server closed meanwhile: nobody waits for the result
            pass

    threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True,
                     name=f"studio-{stops.what}").start()  # with the event's context (studio.core.files: the maker)
    try:
        while not done.done():
            await asyncio.wait([done], timeout=0.1)  # a cancel lands here; `done` itself is left alone
            while not updates.empty():
                fraction, text = updates.get()
                if progress is not None:
                    progress(fraction, desc=text)
        return done.result()
    finally:
        JOBS.done(stop)
        stop.set()  # after the result: no-op; after a cancel: the call stops at its next step
        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late error is nobody's to show
