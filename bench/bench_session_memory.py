"""Server memory kept per closed browser tab, and Gradio temp-folder bytes per generated picture (issue 35, 8).

    .venv/bin/python -m bench.bench_session_memory [SESSIONS]     # prints Markdown rows

- sessions: the app launched in-process; each tab opens Gradio's heartbeat, runs the page's load events (as a
  browser does) and closes. Kept bytes: the objects alive after the SESSIONS tabs that were not alive before
  (gc-tracked objects plus the strings, numbers and plain dicts/tuples they hold; see tests/test_security_disk),
  divided by SESSIONS; once with the default pool of closed tabs (STUDIO_CLOSED_SESSIONS), once with none.
- temp: one 256 px mini-shapes picture (20 steps, a preview every 5) through gradio_client (files not downloaded):
  the files and bytes it leaves in GRADIO_TEMP_DIR, against the saved output.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
TMP = Path(tempfile.mkdtemp(prefix="bench-session-"))
os.environ["GRADIO_TEMP_DIR"] = str(TMP / "gradio")

import httpx  # noqa: E402

import app  # noqa: E402
from studio.core import config  # noqa: E402
from tests.test_security_disk import _heap, _retained_bytes, _session  # noqa: E402


def _configure(**env):
    return config.configure([], env={"STUDIO_OUTPUT_DIR": str(TMP / "outputs"), "STUDIO_HUB": "local", **env})


def kept_per_session(sessions: int, pool: str | None) -> tuple[float, int]:
    _configure(**({} if pool is None else {"STUDIO_CLOSED_SESSIONS": pool}))
    demo = app.build_demo()
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(timeout=60) as client:
            deps = client.get(f"{url}config").json()["dependencies"]
            loads = [d for d in deps if d.get("backend_fn") and any(t[1] == "load" for t in d["targets"])]
            for _ in range(3):
                _session(client, url, loads)
            time.sleep(1)
            alive, before = _heap()
            for _ in range(sessions):
                _session(client, url, loads)
            time.sleep(2)
            return _retained_bytes(alive, before) / sessions, len(demo.state_holder.session_data)
    finally:
        demo.close()


def temp_per_picture() -> tuple[int, int, int]:
    from gradio_client import Client
    _configure()
    demo = app.build_demo()
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=False)
        client.predict("a red circle", "", "mini-shapes", "DPM++ 2M", 20, 7, 1, 256, 256, 1, 1,
                       api_name="/generate_image")
        client.close()
        temp = [p for p in (TMP / "gradio").rglob("*") if p.is_file()]
        saved = [p for p in (TMP / "outputs" / "images").rglob("*.png")]
        return len(temp), sum(p.stat().st_size for p in temp), sum(p.stat().st_size for p in saved)
    finally:
        demo.close()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print("| figure | value |\n|---|---|")
    files, temp_bytes, out_bytes = temp_per_picture()
    print(f"| temp folder after one 256 px picture (3 previews + the result copy) | {files} files, "
          f"{temp_bytes / 1024:.0f} KB (the saved PNG: {out_bytes / 1024:.0f} KB) |")
    for pool in (None, "0"):
        per, held = kept_per_session(n, pool)
        label = "default pool of closed tabs" if pool is None else "no pool (STUDIO_CLOSED_SESSIONS=0)"
        print(f"| kept per closed tab, {n} tabs, {label} | {per / 1024:.1f} KB ({held} sessions still held) |")
