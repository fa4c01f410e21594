"""Each browser's own history of generated files, kept on disk so it survives a restart.

The page keeps a random id per browser (gr.BrowserState); the server keeps one JSON-lines file per id under
<output_dir>/history/, listing the files that browser made: one JSON object a line with the file's path, a caption
and the time, and what made it (kind, prompt, seed; lines written before these were recorded lack them). Only ids
of the form the studio issues are accepted, so an id can never name another path.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path

from studio.core.config import settings


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


def add(browser_id: str, paths: list, captions: list[str], details: list[dict] | None = None) -> None:
    """Remember files this browser made (paths outside the outputs folder are ignored). `details`, one dict per
    file, says what each is: "kind" (the tab, or tab.experiment: "image", "image.grid", "speech.prosody"...),
    "prompt" (the prompt or text, short) and "seed" (where there is one); empty values are not written."""
    if not valid(browser_id):
        return
    root = Path(settings().output_dir).expanduser().resolve()
    details = details or [{}] * len(paths)
    rows = [json.dumps({"path": str(p), "caption": c, "time": time.time(), **_known(d)}, ensure_ascii=False)
            for p, c, d in zip(paths, captions, details) if Path(p).resolve().is_relative_to(root)]
    if rows:
        with _lock, _file(browser_id).open("a", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")


def _known(detail: dict) -> dict:
    out = {k: str(detail[k]) for k in ("kind", "prompt") if detail.get(k)}
    seed = detail.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        out["seed"] = seed
    return out


def entries(browser_id: str, limit: int = KEEP) -> list[dict]:
    """This browser's files, newest first, skipping files deleted since: dicts of path, caption, time, and kind,
    prompt, seed ("", "", None for an entry written before they were recorded)."""
    if not valid(browser_id) or not _file(browser_id).is_file():
        return []
    out = []
    for line in reversed(_file(browser_id).read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
            path = str(row["path"])
        except (ValueError, TypeError, KeyError):
            continue  # a line cut by a crash loses one entry, not the history
        if Path(path).is_file():
            seed = row.get("seed")
            out.append({"path": path, "caption": str(row.get("caption") or ""), "time": row.get("time"),
                        "kind": str(row.get("kind") or ""), "prompt": str(row.get("prompt") or ""),
                        "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None})
        if len(out) >= limit:
            break
    return out


def items(browser_id: str, limit: int = KEEP) -> list[tuple[str, str]]:
    """(path, caption) of this browser's files, newest first, skipping files deleted since."""
    return [(e["path"], e["caption"]) for e in entries(browser_id, limit)]
