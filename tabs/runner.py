"""A model call in a worker thread, so the page gets previews while it runs and each browser can stop its own run.

    for kind, value in stream(lambda preview, stop, progress: api.generate_image(..., preview=preview,
                                                                                    stop=stop, progress=progress),
                              stops.start(request), progress):
        ...  # kind "preview": what preview() was given; kind "done": the call's result
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import gradio as gr


class Stops:
    """One stop flag per browser session: the stop button ends that session's run only."""

    def __init__(self):
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _key(self, request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    def start(self, request: gr.Request | None) -> threading.Event:
        with self._lock:
            event = self._events[self._key(request)] = threading.Event()
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
        if not finished:  # the page went away (or Gradio cancelled the event): end the run too
            stop.set()
