"""Outputs retention: a maximum age and a disk quota for the outputs folder, enforced by deleting the oldest files.

Never deleted: anything younger than MIN_AGE (just made, so perhaps being downloaded right now), the history
index and the LoRA folder (trained LoRAs are the learner's work, not a cache). A file that is already being sent is
safe anyway: on POSIX an unlinked file stays readable through the open handle until the download ends.
Stale ".tmp-" files left by a killed process are removed at start-up.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .config import settings

log = logging.getLogger("studio.retention")
MIN_AGE = 15 * 60  # seconds
KEPT = ("history", "lora")  # top-level folders never pruned
EVERY = 10 * 60  # seconds between sweeps


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
    files = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in _files(root)), key=lambda x: x[0])
    total = sum(size for _, size, _ in files)
    removed = []
    for mtime, size, path in files:
        if now - mtime < MIN_AGE:
            break  # sorted by age: everything after is younger still
        too_old = bool(max_age_days) and now - mtime > max_age_days * 86400
        over = bool(quota_mb) and total > quota_mb * 1024 * 1024
        if not (too_old or over):
            continue
        try:
            path.unlink()
            total -= size
            removed.append(path)
        except OSError:
            pass
    if removed:
        log.info("retention: removed %d old output files", len(removed))
    return removed


def remove_partial(root: Path | None = None, older_than: float = 3600) -> int:
    """Delete ".tmp-" files a killed process left behind (a live writer renames its file within seconds)."""
    root = Path(root or settings().output_dir).expanduser().resolve()
    if not root.is_dir():
        return 0
    now, count = time.time(), 0
    for path in root.rglob(".tmp-*"):
        if path.is_file() and now - path.stat().st_mtime > older_than:
            path.unlink(missing_ok=True)
            count += 1
    return count


def start() -> None:
    """Clean up once now and keep sweeping in the background, when the operator set an age or a quota."""
    remove_partial()
    s = settings()
    if not s.output_max_age_days and not s.output_quota_mb:
        return

    def loop():
        while True:
            try:
                sweep()
            except Exception:  # retention must never take the studio down
                log.exception("retention sweep failed")
            time.sleep(EVERY)
    threading.Thread(target=loop, name="retention", daemon=True).start()
