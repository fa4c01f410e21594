"""Each browser's own history of generated files, kept on disk so it survives a restart.

The page keeps a random id per browser (gr.BrowserState); the server keeps one JSON-lines file per id under
<output_dir>/history/, listing the files that browser made. Only ids of the form the studio issues are
accepted, so an id can never name another path.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path

from .config import settings

_ID = re.compile(r"[0-9a-f]{32}")
_lock = threading.Lock()
KEEP = 200  # entries listed per browser (the files themselves stay in the outputs folder)


def secret() -> str:
    """The key the page encrypts the browser id with: made once per outputs folder, so it survives restarts."""
    folder = Path(settings().output_dir).expanduser().resolve() / "history"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".secret"
    with _lock:
        if not path.is_file():
            path.write_text(uuid.uuid4().hex, encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()


def new_id() -> str:
    return uuid.uuid4().hex


def valid(browser_id) -> bool:
    return isinstance(browser_id, str) and bool(_ID.fullmatch(browser_id))


def _file(browser_id: str) -> Path:
    folder = Path(settings().output_dir).expanduser().resolve() / "history"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{browser_id}.jsonl"


def add(browser_id: str, paths: list, captions: list[str]) -> None:
    """Remember files this browser made (paths outside the outputs folder are ignored)."""
    if not valid(browser_id):
        return
    root = Path(settings().output_dir).expanduser().resolve()
    rows = [json.dumps({"path": str(p), "caption": c, "time": time.time()}, ensure_ascii=False)
            for p, c in zip(paths, captions) if Path(p).resolve().is_relative_to(root)]
    if rows:
        with _lock, _file(browser_id).open("a", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")


def items(browser_id: str, limit: int = KEEP) -> list[tuple[str, str]]:
    """(path, caption) of this browser's files, newest first, skipping files deleted since."""
    if not valid(browser_id) or not _file(browser_id).is_file():
        return []
    out = []
    for line in reversed(_file(browser_id).read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash loses one entry, not the history
        if Path(row["path"]).is_file():
            out.append((row["path"], row.get("caption", "")))
        if len(out) >= limit:
            break
    return out
