"""Where model work runs: in this process (the default), or on a Ray Serve cluster (`STUDIO_BACKEND=ray`).

A modality's public call that does device work is marked `@routed("image")`. In-process it is the plain function.
With the Ray backend the web process sends the call (its values; uploads travel inside them as bytes) to the
family's Serve deployment (studio.cluster), which runs the same function on a replica, in that replica's own fair
queue, and streams its previews, progress and place in line back; the result returns here, where `finish` writes
the files (the outputs folder, infotexts and history stay with the web process, so the workers need no shared disk).

Where turns are taken: on the replica. Each replica runs the studio's fair scheduler over the jobs Serve routed to
it (merged batches form there); the web process only admits jobs (the per-learner and queue limits, the operator's
view) and routes each to a replica that holds its model (`@serve.multiplexed`).

This module imports no modality and no Ray: studio.cluster.client.connect (app.py calls it at start with
STUDIO_BACKEND=ray; a Python script may too) hands it the sender.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable


ROUTED: dict[str, tuple[str, Callable]] = {}  # "module:name" -> (family, the plain function): all a worker runs


def routed(family: str, finish: Callable | None = None):
    """Mark a public call as model work of `family` (one Serve deployment per family). `finish(result, call)` runs
    in the calling process after a remote call (it saves files); `call` is the bound arguments."""
    def wrap(fn: Callable) -> Callable:
        path = f"{fn.__module__}:{fn.__qualname__}"
        ROUTED[path] = (family, fn)
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if _sender is None:  # in-process, and on a worker
                return fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            sent = dict(bound.arguments)
            if "save" in sent:
                sent["save"] = False  # files are written here, by finish: the workers need no shared disk
            result = _sender(family, path, sent)
            return finish(result, bound.arguments) if finish is not None else result
        call.family, call.path, call.local = family, path, fn
        return call
    return wrap


_sender: Callable | None = None  # (family, path, arguments) -> result, once connected to a cluster
_everywhere: Callable | None = None  # (action, model): the operator's model action on every node


def send_with(sender: Callable | None, everywhere: Callable | None = None) -> None:
    """Route every marked call through `sender` from now on, and the operator's model actions through
    `everywhere` (None, None: back to in-process)."""
    global _sender, _everywhere
    _sender, _everywhere = sender, everywhere


def everywhere(action: str, model: str) -> None:
    """The operator's "unload", "unload_all", "download" or "delete" of `model`, on every worker too."""
    if _everywhere is not None:
        _everywhere(action, model)


def remote() -> bool:
    """Whether model work goes to a cluster."""
    return _sender is not None
