"""Foundation figures: app start to first HTTP 200, idle memory of the server, second `get` of a resident model.

    .venv/bin/python -m bench.bench_foundation            # prints a Markdown table row set

Runs on CPU with no network; the resident-model timing uses a tiny SD pipeline built from configs.
"""
from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil


ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_start(runs: int = 3) -> tuple[float, float]:
    """(median seconds from process start to the first HTTP 200, median idle RSS in MB 5 s later)."""
    times, rss = [], []
    for _ in range(runs):
        port = free_port()
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "STUDIO_HUB": "local"}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
                if time.perf_counter() - started > 120:
                    raise RuntimeError("the app did not answer within 120 s")
            times.append(time.perf_counter() - started)
            time.sleep(5)
            rss.append(psutil.Process(proc.pid).memory_info().rss / 2**20)
        finally:
            proc.terminate()
            proc.wait(30)
    return statistics.median(times), statistics.median(rss)


def resident_get(n: int = 2000) -> float:
    """Median microseconds of manager.get() for a model that is already loaded."""
    from studio.core.config import configure
    from studio.core.manager import ModelManager
    from tests.tiny_models import build_sd15
    with tempfile.TemporaryDirectory() as tmp:
        build_sd15(Path(tmp) / "tiny-sd15")
        configure([], env={"STUDIO_MODEL_DIRS": tmp, "STUDIO_HUB": "local"})
        manager = ModelManager(budgets={"cpu": 2**30}, device="cpu")
        manager.get("tiny-sd15")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            manager.get("tiny-sd15")
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


if __name__ == "__main__":
    start, idle = app_start()
    get_us = resident_get()
    memory = psutil.virtual_memory().total / 2**30
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, {memory:.0f} GiB, "
          f"Python {platform.python_version()}, date {time.strftime('%Y-%m-%d')}")
    print("| figure | value |\n|---|---|")
    print(f"| app start to first HTTP 200 (median of 3) | {start:.2f} s |")
    print(f"| idle server memory (RSS, 5 s after start) | {idle:.0f} MB |")
    print(f"| second get() of a resident model (median of 2000) | {get_us:.1f} µs |")
