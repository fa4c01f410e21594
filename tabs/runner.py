"""A model call in a worker thread, so the page gets previews while it runs and each browser can stop its own run.

    async for kind, value in stream(lambda preview, stop, progress: api.generate_image(..., preview=preview,
                                                                                    stop=stop, progress=progress),
                              stops.start(request, lang=lang, model=model, work=work(steps, batch)), progress):
        ...  # kind "preview": what preview() was given; kind "done": the call's result

A handler without previews awaits run() instead (an async handler, so that Gradio's cancel reaches it at once):

    return await run(stops.start(request, lang=lang, model=model, work=work(steps, cells)),
                     lambda stop, progress: api.xy_plot(..., stop=stop, progress=progress), progress)

Either way the call runs as a Job (the operator view lists it and may stop it) and waits for its turns in the
server's fair scheduler (studio.core.scheduler): Gradio hands every model event over at once (no concurrency slot),
the scheduler decides whose turn it is, and the page shows the learner their place and wait while the job waits.
Model events written as plain functions (the next-token view, quick counts) are wrapped by
`schedule_model_events` so that they wait in the same line.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import gradio as gr

from studio.api import StudioError
from studio.api.web import Ticket, job_scheduler

from . import files as page_files
from .ui import s


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
        job = Job(getattr(stop, "id", None) or next(self._ids), what,
                  getattr(request, "session_hash", None) or "local", getattr(request, "username", None), stop)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def done(self, stop: threading.Event) -> None:
        with self._lock:
            for job_id in [i for i, j in self._jobs.items() if j.stop is stop]:
                del self._jobs[job_id]
        if isinstance(stop, Ticket) and stop.scheduler is not None:
            stop.scheduler.withdraw(stop)  # out of the line too (a run on the device leaves when it returns)

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

    def start(self, request: gr.Request | None, lang: str = "zh", model: str = "", work: float = 1.0,
              turn_work: float | None = None, size: str = "", by_unit: bool = False) -> Ticket:
        """A new run of this browser: its stop flag, in line in the scheduler (a message if the line is full).
        `work` counts units of the model's work (denoising steps x pictures, tokens, training steps), which the
        scheduler times to estimate waits; `turn_work`: those of one natural turn (a picture of a batch count, a
        grid cell); `size` is shown to the operator. `by_unit`: the call runs its device work as units
        (`api.generate_image`'s batches), each taking a turn when it comes, so its input is checked at once and its
        pictures may share a call with other learners' (studio.core.scheduler.merged)."""
        ticket = ticket_for(request, self.what, lang=lang, model=model, work=work, turn_work=turn_work, size=size,
                            by_unit=by_unit)
        job_scheduler().admit(ticket)
        with self._lock:
            self._events[self._key(request)] = ticket
        JOBS.add(self.what, request, ticket)
        return ticket

    def stop(self, request: gr.Request | None) -> None:
        with self._lock:
            event = self._events.get(self._key(request))
        if event is not None:
            event.set()

    def forget(self, session: str) -> None:
        """A closed page's flag goes (a run of it still holds its own reference: the page's end stops it)."""
        with self._lock:
            self._events.pop(session, None)


def work(*factors) -> float:
    """A job's units of work for the scheduler's estimate: the product of its numbers (a text counts its
    characters, a table its rows); what is not a number yet (a box being typed) counts as 1."""
    total = 1.0
    for factor in factors:
        try:
            value = float(factor)
        except (TypeError, ValueError):
            value = len(factor) if hasattr(factor, "__len__") else 1.0
        total *= max(1.0, value) if value == value else 1.0  # NaN counts as 1
    return total


def ticket_for(request, what: str, **job) -> Ticket:
    """A job of the one asking: identity = login + browser (tabs.files), the operator's jobs marked as such."""
    who = page_files.who(request) if request is not None else page_files.files.current()
    owner = f"{who.user or ''}|{who.browser or 'local'}"
    browser = (who.browser or "local").removeprefix("session:")[:6]
    learner = f"{who.user} · {browser}" if who.user else browser  # a shared login's learners told apart
    return Ticket(owner, learner=learner, operator=who.operator, what=what, **job)


def queued(request, what: str, lang: str = "zh") -> Ticket:
    """A one-turn job of the one asking, in line, for run(): what `schedule_model_events` makes of a plain handler,
    for an async one that must note something at the click before it waits (实时: tabs/image_live.py)."""
    ticket = ticket_for(request, what, lang=lang)
    try:
        job_scheduler().admit(ticket)
    except StudioError as err:  # the line is full: a message, as the guarded handlers show theirs
        raise gr.Error(err.message(lang), print_exception=False) from None
    JOBS.add(what, request, ticket)
    return ticket


def _on_device(call: Callable, stop: threading.Event):
    """call() in its turns on the device (studio.core.scheduler); "stopped" when stopped while it waited.
    A cancelled job's thread runs on to its next step (a thread cannot be killed) and keeps its turn till then."""
    if isinstance(stop, Ticket):
        return (stop.scheduler or job_scheduler()).run(stop, call)
    if stop.is_set():
        raise StudioError("stopped")
    return call()


def waiting_text(stop: threading.Event, lang: str) -> str | None:
    """The learner's place in line, or None while the job has the device."""
    if not isinstance(stop, Ticket) or stop.scheduler is None:
        return None
    where = stop.scheduler.place(stop)
    routed = stop.remote and stop.started is None  # sent to the cluster: in Serve's router or a replica's line
    if where is None and not routed:
        return None
    if stop.scheduler.paused and not stop.operator and stop.started is None:
        return s("queue.paused", lang)
    if where is None:  # no replica's line has it yet: every replica has its fill of jobs
        return s("queue.router", lang)
    return s("queue.waiting", lang, ahead=where[0], seconds=max(1, round(where[1])))


def _show_place(stop: threading.Event, progress: gr.Progress | None) -> None:
    text = waiting_text(stop, getattr(stop, "lang", "zh"))
    if text is not None and progress is not None:
        progress(0, desc=text)  # None would hide the bar and its text


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

    def in_thread():
        try:
            result = _on_device(lambda: call(lambda *value: put(("preview", value)), stop,
                                            lambda fraction, text: put(("progress", (fraction, text)))), stop)
            put(("done", result))
        except BaseException as exc:  # handed to the event's task, which shows it as a message
            put(("error", exc))

    # The event's context goes along: studio.core.files learns from it who makes the files the run saves.
    threading.Thread(target=contextvars.copy_context().run, args=(in_thread,), daemon=True, name="studio-run").start()
    finished = False
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(events.get(), timeout=PLACE_EVERY)
            except asyncio.TimeoutError:  # nothing from the run yet: it may be waiting in line
                _show_place(stop, progress)
                continue
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


PLACE_EVERY = 0.5  # seconds between updates of a waiting learner's place in line


async def run(stop: threading.Event, call: Callable, progress: gr.Progress | None = None):
    """Await call(stop, progress) run in a worker thread as `stops`' Job; its result, or its error re-raised.

    For handlers without previews. Gradio cancels an event (its owner cancelled, the page went away) by cancelling
    the handler's task: an async handler gets the CancelledError at once, here, and sets the stop flag, so the
    studio function ends at its next step or item (a sync handler would only learn of it when the call returned).
    Progress is forwarded from the event's task, where Gradio expects it."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    updates: queue.SimpleQueue = queue.SimpleQueue()

    def settle(result, error):
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(result)

    def in_thread():
        try:
            result, error = _on_device(lambda: call(stop, lambda fraction, text: updates.put((fraction, text))),
                                       stop), None
        except BaseException as exc:  # handed to the event's task, which shows it as a message
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the server closed meanwhile: nobody waits for the result
            pass

    # with the event's context (studio.core.files: the maker)
    threading.Thread(target=contextvars.copy_context().run, args=(in_thread,), daemon=True,
                     name=f"studio-{getattr(stop, 'what', 'run')}").start()
    try:
        polls = 0
        while not done.done():
            await asyncio.wait([done], timeout=0.1)  # a cancel lands here; `done` itself is left alone
            polls += 1
            if updates.empty() and polls % round(PLACE_EVERY / 0.1) == 0:
                _show_place(stop, progress)
            while not updates.empty():
                fraction, text = updates.get()
                if progress is not None:
                    progress(fraction, desc=text)
        return done.result()
    finally:
        JOBS.done(stop)
        stop.set()  # after the result: no-op; after a cancel: the call stops at its next step
        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late error is nobody's to show


def schedule_model_events(demo: gr.Blocks, concurrency_id: str) -> int:
    """Every model event waits in the scheduler, none in a Gradio slot: the `concurrency_id` events get no
    concurrency limit, and those written as plain functions are wrapped to run as a job in line (their thread
    waits; app.py gives Gradio threads for a class). Returns how many were wrapped."""
    wrapped = 0
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id != concurrency_id or block_fn.fn is None:
            continue
        block_fn.concurrency_limit = None
        fn = block_fn.fn
        if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn)):
            what = block_fn.api_name or block_fn.name
            block_fn.fn = _in_line(fn, what)
            # the tab it lives in, for the operator view ("tabs.text_next" -> "text"), which names no api_name
            QUICK_TABS[what] = inspect.unwrap(fn).__module__.rpartition(".")[2].split("_")[0]
            wrapped += 1
    return wrapped


QUICK_TABS: dict[str, str] = {}  # a quick model event's api_name -> the tab whose module holds it


def _in_line(fn: Callable, what: str) -> Callable:
    """fn as a one-turn job of whoever the event is from (Gradio's request context: tabs.files)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        lang = kwargs.get("lang") or next((a for a in reversed(args) if a in ("zh", "en")), "zh")
        ticket = queued(None, what, lang)
        try:
            return job_scheduler().run(ticket, lambda: fn(*args, **kwargs))
        except StudioError as err:  # stopped while it waited: a message, as the guarded handlers show theirs
            raise gr.Error(err.message(lang), print_exception=False) from None
        finally:
            JOBS.done(ticket)
    return wrapper
