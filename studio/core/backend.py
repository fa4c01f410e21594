"""Where model work runs: in this process (the default), or on a Ray Serve cluster (`STUDIO_BACKEND=ray`).

A modality's public call that does device work is marked `@routed("image")`. In-process it is the plain function.
With the Ray backend the web process sends the call (its values; uploads travel inside them as bytes) to the
family's Serve deployment (studio.cluster), which runs the same function on a replica, in that replica's own fair
queue, and streams its previews, progress and place in line back; the result returns here, where `finish` writes
the files (the outputs folder, infotexts and history stay with the web process, so the workers need no shared disk).

Where turns are taken: on the replica. Each replica runs the studio's fair scheduler over the jobs Serve routed to
it (merged batches form there); the web process only admits jobs (the per-learner and queue limits, the operator's
view) and routes each to a replica that holds its model (`@serve.multiplexed`).

This module imports no modality and no Ray: studio.cluster is imported only when the Ray backend is on.
"""
from __future__ import annotations

import functools
import inspect
import threading
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
            if not remote():  # in-process, and on a worker (whose settings say local)
                return fn(*args, **kwargs)
            from studio.cluster import client
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            sent = dict(bound.arguments)
            if "save" in sent:
                sent["save"] = False  # files are written here, by finish: the workers need no shared disk
            result = client.run(family, path, sent)
            return finish(result, bound.arguments) if finish is not None else result
        call.family, call.path, call.local = family, path, fn
        return call
    return wrap


def remote() -> bool:
    """Whether model work goes to the Ray cluster (the web process of STUDIO_BACKEND=ray, once connected)."""
    from studio.core.config import settings
    return settings().backend == "ray" and not _fallen_back.is_set()


_fallen_back = threading.Event()  # the cluster was unreachable and STUDIO_BACKEND_FALLBACK=local


def fall_back() -> None:
    _fallen_back.set()

