"""Where model files come from: the built-in assets, local model folders, hub caches, or a download.

Downloads use the hubs' own clients (modelscope / huggingface_hub) into `<first model dir>/<key>`,
so "on disk", "delete" and "disk usage" all look at one place. Before any download a short
reachability probe runs in a thread: with no network the user gets a clear message within
STUDIO_HUB_TIMEOUT seconds instead of a client retrying for minutes.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.registry import ModelCard


Progress = Callable[[float, str], None]


def model_dirs() -> list[Path]:
    return [Path(d).expanduser().resolve() for d in settings().model_dirs]


def download_target(card: ModelCard) -> Path:
    return model_dirs()[0] / card.key


def is_inside_model_dirs(path: Path) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == d or d in real.parents for d in model_dirs())


def _cached_snapshot(card: ModelCard) -> Path | None:
    """A complete snapshot already in the hubs' own caches (HF_HOME / MODELSCOPE_CACHE)."""
    if card.hf_id:
        try:
            from huggingface_hub import snapshot_download
            return Path(snapshot_download(card.hf_id, local_files_only=True))
        except Exception:  # not cached: the library raises one of several error types
            pass
    if card.modelscope_id:
        try:
            from modelscope import snapshot_download as ms_snapshot
            return Path(ms_snapshot(card.modelscope_id, local_files_only=True,
                                    revision=card.revision.get("modelscope")))
        except Exception:
            pass
    return None


def find_local(card: ModelCard) -> Path | None:
    """The folder holding the model's files, or None when it must be downloaded first."""
    builtin = card.local_folder()
    if builtin is not None:
        return builtin if builtin.is_dir() and any(builtin.iterdir()) else None
    for d in model_dirs():
        if (d / card.key).is_dir() and any((d / card.key).iterdir()):
            return d / card.key
    return _cached_snapshot(card)


def where_looked(card: ModelCard) -> str:
    places = [str(d / card.key) for d in model_dirs()]
    places.append("HF_HOME / MODELSCOPE_CACHE")
    return ", ".join(places)


def _endpoint(hub: str) -> str:
    s = settings()
    if hub == "hf":
        return os.environ.get("HF_ENDPOINT") or s.hf_endpoint
    domain = os.environ.get("MODELSCOPE_DOMAIN") or s.modelscope_domain
    return domain if "://" in domain else "https://" + domain


def reachable(url: str, timeout: float) -> bool:
    """Can a TCP connection to the URL's host be opened within `timeout` seconds?

    Name resolution cannot be given a timeout, so the probe runs in a daemon thread that is
    abandoned if it takes too long.
    """
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (80 if parsed.scheme == "http" else 443)
    ok = threading.Event()

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.set()
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return ok.is_set()


def download(card: ModelCard, progress: Progress | None = None) -> Path:
    """Fetch the model's safetensors snapshot into the first model folder; return that folder."""
    s = settings()
    target = download_target(card)
    if s.hub == "local":
        raise StudioError("hub_local_only", model=card.key, where=where_looked(card), target=target)
    repo_id = card.hf_id if s.hub == "hf" else card.modelscope_id
    if not repo_id:
        raise StudioError("hub_no_id", model=card.key, hub=s.hub)
    endpoint = _endpoint(s.hub)
    if not reachable(endpoint, s.hub_timeout):
        raise StudioError("hub_offline", model=card.key, where=endpoint, seconds=s.hub_timeout, target=target)
    ignore = [] if s.allow_pickle else card.download_ignore()
    report = progress or (lambda frac, text: None)
    try:
        if s.hub == "hf":
            _download_hf(repo_id, card, target, ignore, report)
        else:
            _download_modelscope(repo_id, card, target, ignore, report)
    except StudioError:
        raise
    except Exception as exc:  # network drops, missing repos, full disks: all reach the user as one message
        raise StudioError("download_failed", model=card.key, where=endpoint,
                          reason=f"{type(exc).__name__}: {exc}") from exc
    report(1.0, card.key)
    return target


def _download_hf(repo_id: str, card: ModelCard, target: Path, ignore: list[str], report: Progress) -> None:
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    class _Bar(tqdm):  # snapshot_download's bar counts files; forward it to the caller
        def update(self, n=1):
            super().update(n)
            if self.total:
                report(self.n / self.total, f"{card.key}: {self.n}/{self.total}")

    snapshot_download(repo_id, local_dir=target, ignore_patterns=ignore,
                      revision=card.revision.get("hf"), tqdm_class=_Bar, etag_timeout=settings().hub_timeout)


def _download_modelscope(repo_id: str, card: ModelCard, target: Path, ignore: list[str], report: Progress) -> None:
    from modelscope import snapshot_download
    from modelscope.hub.callback import ProgressCallback

    class _Bytes(ProgressCallback):  # one instance per file; report bytes of the current file
        def __init__(self, filename: str, file_size: int):
            super().__init__(filename, file_size)
            self.done = 0

        def update(self, size: int) -> None:
            self.done += size
            if self.file_size:
                report(self.done / self.file_size, f"{card.key}: {self.filename}")

    snapshot_download(repo_id, local_dir=str(target), ignore_patterns=ignore,
                      revision=card.revision.get("modelscope"), progress_callbacks=[_Bytes])


def delete(card: ModelCard) -> Path:
    """Remove a downloaded model from the model folders (never the built-in assets or hub caches)."""
    if card.builtin:
        raise StudioError("builtin_delete", model=card.key)
    for d in model_dirs():
        folder = d / card.key
        if folder.is_dir():
            shutil.rmtree(folder)
            return folder
    raise StudioError("not_downloaded", model=card.key)


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0
