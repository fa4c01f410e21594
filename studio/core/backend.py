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
import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


ROUTED: dict[str, tuple[str, Callable]] = {}  # "module:name" -> (family, the plain function): all a worker runs


def routed(family: str | Callable, finish: Callable | None = None, stream: bool = False,
           send: Callable | None = None):
    """Mark a public call as model work of `family` (one Serve deployment per family; or a function of the bound
    arguments naming it, for a call on any family's model). `finish(result, call)` runs in the calling process
    after a remote call (it saves files); `call` is the bound arguments. `stream`: the call returns an iterator (a
    text token by token); remotely each item comes back as the replica makes it. `send(call)` prepares the
    arguments here before they go (a learner's LoRAs: resolved with their rights, sent by content as `Sent`)."""
    def wrap(fn: Callable) -> Callable:
        path = f"{fn.__module__}:{fn.__qualname__}"
        ROUTED[path] = (family, fn)
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if not remote():  # in-process, and on a worker
                return fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            sent = dict(bound.arguments)
            here = family_of(family, sent)
            if not remote(here):  # a family the cluster does not serve
                return fn(*args, **kwargs)
            if "save" in sent:
                sent["save"] = False  # files are written here, by finish: the workers need no shared disk
            if send is not None:
                sent = send(sent)
            if stream:
                return _sender(here, path, sent, True)  # the items, as they come
            result = _sender(here, path, sent, False)
            return finish(result, bound.arguments) if finish is not None else result
        call.family, call.path, call.local = family, path, fn
        return call
    return wrap


def family_of(family: str | Callable, arguments: dict) -> str | None:
    """The family a routed call's arguments belong to (None: none the cluster could serve)."""
    if not callable(family):
        return family
    try:
        return family(arguments)
    except Exception:  # a bad model name: the call itself, run here, says so in the learner's words
        return None


_sender: Callable | None = None  # (family, path, arguments, stream) -> result, once connected to a cluster
_everywhere: Callable | None = None  # (action, model): the operator's model action on every node
_families: frozenset[str] = frozenset()  # the families the cluster serves


def send_with(sender: Callable | None, everywhere: Callable | None = None, families=("image",)) -> None:
    """Route the marked calls of `families` through `sender` from now on, and the operator's model actions through
    `everywhere` (None, None: back to in-process)."""
    global _sender, _everywhere, _families
    _sender, _everywhere = sender, everywhere
    _families = frozenset(families) if sender is not None else frozenset()


def everywhere(action: str, model: str) -> None:
    """The operator's "unload", "unload_all", "download" or "delete" of `model`, on every worker too."""
    if _everywhere is not None:
        _everywhere(action, model)


def remote(family: str | None = None) -> bool:
    """Whether model work (of `family`) goes to a cluster. While any does, the web process's scheduler gives a
    job the local device only when it asks the model manager for a model (studio.core.scheduler.claim_device):
    a routed call takes its turns on a replica, and must not queue for a device it does not use here."""
    return _sender is not None and (family is None or family in _families)


@dataclass(frozen=True)
class Sent:
    """A file a routed call needs, sent by content (a learner's LoRA). The web process resolves it, with the
    learner's rights, and reads its bytes; a worker keeps it under its sha256, so it crosses the network once per
    machine and a changed file is a new one."""
    name: str  # the file's name where it is kept (e.g. my-lora.safetensors)
    sha: str  # sha256 of its bytes, in full (the key it is kept under)
    data: object = None  # the file (Path) here, a Ray object ref in transit, bytes on the worker; None: kept there

    @classmethod
    def of(cls, path: Path, name: str) -> "Sent":
        """The file by its hash, read once per version (a grid's cells send the same LoRA again and again)."""
        path = Path(path)
        stat = path.stat()
        return cls(name, _sha256(str(path), stat.st_size, stat.st_mtime_ns), path)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sent_bytes(sent: Sent) -> bytes | None:
    """The sent file's bytes, read from its path here or as they arrived."""
    return sent.data.read_bytes() if isinstance(sent.data, Path) else sent.data


def kept_path(sent: Sent) -> Path:
    """Where a worker keeps a sent file: under the first model folder (every node has its own)."""
    from studio.core import hub
    return hub.model_dirs()[0] / ".sent" / sent.sha / Path(sent.name).name


def kept(sent: Sent) -> Path:
    """The sent file on this machine, written from its bytes the first time (checked against its sha256)."""
    path = kept_path(sent)
    if path.is_file():
        return path
    data = sent_bytes(sent)
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != sent.sha:
        raise ValueError(f"{sent.name}: the sent file's bytes are missing or do not match its hash")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_bytes(data)
    os.replace(part, path)  # whole or absent: two jobs writing it at once both end with the same file
    return path


def each_sent(value, change: Callable[[Sent], Sent]):
    """`value` with every Sent inside it (lists, tuples, dicts) replaced by change(sent)."""
    if isinstance(value, Sent):
        return change(value)
    if isinstance(value, (list, tuple)):
        return type(value)(each_sent(v, change) for v in value)
    if isinstance(value, dict):
        return {k: each_sent(v, change) for k, v in value.items()}
    return value
