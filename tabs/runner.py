"""A model call in a worker thread, so the page gets previews while it runs and each browser can stop its own run.

    for kind, value in stream(lambda preview, stop, progress: api.generate_image(..., preview=preview,
                                                                                    stop=stop, progress=progress),
                              stops.start(request), progress):
        ...  # kind "preview": what preview() was given; kind "done": the call's result
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import gradio as gr


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

    def __init__(self, what: str = ""):
        self.what = what
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

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


def stream(call: Callable, stop: threading.Event, progress: gr.Progress | None) -> Iterator[tuple[str, object]]:
    """Run call(preview, stop, progress) in a thread; yield ("preview", value) as it comes, then ("done", result).
    Progress is forwarded from this (the event's) thread, where Gradio expects it. Errors re-raise here."""
    events: queue.Queue = queue.Queue()

    def work():
        try:
            result = call(lambda *value: events.put(("preview", value)), stop,
                          lambda fraction, text: events.put(("progress", (fraction, text))))
            events.put(("done", result))
        except BaseException as exc:  # handed to the event's thread, which shows it as a message
            events.put(("error", exc))

    threading.Thread(target=work, daemon=True, name="studio-run").start()
    finished = False
    try:
        while True:
            kind, value = events.get()
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
        if not finished:  # the page went away (or Gradio cancelled the event): end the run too
            stop.set()
