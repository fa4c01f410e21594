"""Outputs retention: a maximum age and a disk quota for the outputs folder, enforced by deleting the oldest files.

Never deleted: anything younger than MIN_AGE (just made, so perhaps being downloaded right now), the history
index and the LoRA folder (trained LoRAs are the learner's work, not a cache). A file that is already being sent is
safe anyway: on POSIX an unlinked file stays readable through the open handle until the download ends.
A result and its sidecars (x.mp4 with x.json and x.srt, x.wav with x.json: the same name before the suffix, in one
folder) are one unit: deleted together, aged by the newest of them. Every ".tmp-" file is removed at start-up: a
half-written file of a killed process (nothing of this process writes yet, and a second server sharing the folder
is not a supported setup).

Gradio's temporary folder (GRADIO_TEMP_DIR: live previews, copies of the results a page shows, uploads) has its
own bounds: Gradio's `delete_cache` (see `delete_cache()`) drops the files this server made after an age, and
`sweep_temp` keeps the folder under a quota, oldest first, never touching a file younger than TEMP_MIN_AGE (a
preview or result a page is about to fetch).
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from studio.core.config import settings


log = logging.getLogger("studio.core.retention")
MIN_AGE = 15 * 60  # seconds
KEPT = ("history", "lora")  # top-level folders never pruned
EVERY = 10 * 60  # seconds between sweeps
TEMP_MIN_AGE = 2 * 60  # seconds: a temporary file this young may still be fetched by a page (a streamed preview)
_stop = threading.Event()  # ends the background sweeps (tests)
_threads: dict[str, threading.Thread] = {}


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in KEPT
            and not p.name.startswith(".tmp-")]


def sweep(root: Path | None = None, max_age_days: float | None = None, quota_mb: float | None = None,
          now: float | None = None) -> list[Path]:
    """Delete files older than max_age_days, then the oldest until the folder fits quota_mb; returns them."""
    s = settings()
    root = Path(root or s.output_dir).expanduser().resolve()
    max_age_days = s.output_max_age_days if max_age_days is None else max_age_days
    quota_mb = s.output_quota_mb if quota_mb is None else quota_mb
    if not root.is_dir() or (not max_age_days and not quota_mb):
        return []
    now = time.time() if now is None else now
    units: dict[Path, list[tuple[float, int, Path]]] = {}  # a result and its sidecars: folder/name-before-suffix
    for path in _files(root):
        try:
            stat = path.stat()
        except OSError:
            continue
        units.setdefault(path.parent / path.name.split(".", 1)[0], []).append((stat.st_mtime, stat.st_size, path))
    ordered = sorted(units.values(), key=lambda unit: max(m for m, _, _ in unit))
    total = sum(size for unit in ordered for _, size, _ in unit)
    removed = []
    for unit in ordered:
        mtime = max(m for m, _, _ in unit)  # a unit is as young as its newest file (the sidecar comes last)
        if now - mtime < MIN_AGE:
            break  # sorted by age: everything after is younger still
        too_old = bool(max_age_days) and now - mtime > max_age_days * 86400
        over = bool(quota_mb) and total > quota_mb * 1024 * 1024
        if not (too_old or over):
            continue
        for _, size, path in sorted(unit, key=lambda f: f[0], reverse=True):  # sidecars first, the result last
            try:
                path.unlink()
                total -= size
                removed.append(path)
            except FileNotFoundError:
                total -= size
            except OSError:
                break  # keep the rest of the unit together rather than leave a result without its sidecar
    if removed:
        log.info("retention: removed %d old output files", len(removed))
    return removed


def remove_partial(root: Path | None = None, older_than: float = 3600) -> int:
    """Delete ".tmp-" files a killed process left behind (a live writer renames its file within seconds);
    older_than=0, at start-up: every one."""
    root = Path(root or settings().output_dir).expanduser().resolve()
    if not root.is_dir():
        return 0
    now, count = time.time(), 0
    for path in root.rglob(".tmp-*"):
        if path.is_file() and (older_than <= 0 or now - path.stat().st_mtime > older_than):
            path.unlink(missing_ok=True)
            count += 1
    return count


def temp_folder() -> Path:
    """Gradio's temporary folder, by Gradio's own rule (gradio.utils.get_upload_folder), without importing Gradio."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").expanduser().resolve()


def delete_cache() -> tuple[int, int] | None:
    """gr.Blocks(delete_cache=(frequency, age)) in seconds from the settings; None when the age is 0 (keep)."""
    s = settings()
    if not s.temp_max_age_min:
        return None
    return max(1, int(s.temp_sweep_s)), max(TEMP_MIN_AGE, int(s.temp_max_age_min * 60))


def sweep_temp(root: Path | None = None, quota_mb: float | None = None, now: float | None = None) -> list[Path]:
    """Delete the oldest files of Gradio's temporary folder until it fits quota_mb (never one younger than
    TEMP_MIN_AGE), then the empty folders Gradio's hashed copies leave; returns the deleted files.

    A file with other hard links (an output shown through the cache) takes no space of its own: not counted."""
    root = Path(root or temp_folder()).expanduser().resolve()
    quota_mb = settings().temp_quota_mb if quota_mb is None else quota_mb
    if not quota_mb or not root.is_dir():
        return []
    now = time.time() if now is None else now
    files, folders = [], []
    for path in root.rglob("*"):
        try:
            stat = path.lstat()
        except OSError:
            continue
        if path.is_dir() and not path.is_symlink():
            folders.append((stat.st_mtime, path))
        elif stat.st_nlink <= 1:
            files.append((stat.st_mtime, stat.st_size, path))
    files.sort(key=lambda f: f[0])
    total, limit, removed = sum(size for _, size, _ in files), quota_mb * 1024 * 1024, []
    for mtime, size, path in files:
        if total <= limit or now - mtime < TEMP_MIN_AGE:
            break  # sorted by age: everything after is younger still
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= size
    for mtime, folder in sorted(folders, key=lambda f: len(f[1].parts), reverse=True):  # deepest first
        if now - mtime >= TEMP_MIN_AGE:
            try:
                folder.rmdir()  # only when empty
            except OSError:
                pass
    if removed:
        log.info("retention: removed %d old temporary files (%s)", len(removed), root)
    return removed


def _every(name: str, seconds: float, work) -> None:
    """work() now and every `seconds` in a daemon thread (once per name), until stop()."""
    if name in _threads and _threads[name].is_alive():
        return

    def loop():
        while not _stop.is_set():
            try:
                work()
            except Exception:  # retention must never take the studio down
                log.exception("%s sweep failed", name)
            _stop.wait(seconds)
    _threads[name] = threading.Thread(target=loop, name=name, daemon=True)
    _threads[name].start()


def start() -> None:
    """At start-up: remove every half-written ".tmp-" file (no writer of this process can exist yet), then keep
    sweeping in the background: the outputs when the operator set an age or a quota, Gradio's temporary folder
    when it has a quota."""
    _stop.clear()
    remove_partial(older_than=0)
    s = settings()
    if s.output_max_age_days or s.output_quota_mb:
        _every("retention", EVERY, sweep)
    if s.temp_quota_mb:
        _every("retention-temp", max(1, s.temp_sweep_s), sweep_temp)


def stop() -> None:
    """End the background sweeps (tests; the studio's own are daemon threads that end with the process)."""
    _stop.set()
    for thread in list(_threads.values()):
        thread.join(timeout=5)
    _threads.clear()
