"""A class on one server: model switch time and queue throughput with 8 clients at once.

    .venv/bin/python -m bench.bench_server      # prints Markdown rows

- switch: a memory budget that holds one model, alternating mini-shapes and mini-poem, so every call evicts one
  and loads the other (median of 6 switches, seconds).
- queue: 8 gradio_client users each generating 3 mini-shapes images (20 steps) at once through the app's queue
  (one model job at a time), against the same 24 images made one after another in-process, bare and with the
  page's extra work (PNG saved, a preview decoded every 5 steps): throughput in images/s and the ratio.
  The server runs as its own process (`python app.py`), as in a class where the browsers are elsewhere: with the
  clients' threads inside the server's process (the first version of this benchmark), they shared its GIL with
  the model's Python-heavy small steps. One client one request at a time gives the cost per request.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from studio import api
from studio.core import config
from studio.core.manager import ModelManager, reset_manager


ROOT = Path(__file__).resolve().parent.parent


def switch_seconds(rounds: int = 6) -> float:
    budget = 30 * 2**20  # fits either mini model (estimated 20 MB and 18 MB), not both
    reset_manager(ModelManager(budgets={"cpu": budget}))
    api.generate_image("a red circle", model="mini-shapes", steps=1, seed=0, save=False)
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        if i % 2 == 0:
            api.generate_text("床前", "mini-poem", max_new_tokens=1, seed=0)
        else:
            api.generate_image("a red circle", model="mini-shapes", steps=1, seed=0, save=False)
        times.append(time.perf_counter() - started)
    reset_manager(ModelManager())
    return statistics.median(times)


def serve(port: int, output_dir: str, **env) -> subprocess.Popen:
    """`python app.py` on a port, returned once it answers."""
    import os
    import urllib.error
    import urllib.request
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "STUDIO_OUTPUT_DIR": output_dir, "STUDIO_HUB": "local", **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=5)
            return server
        except urllib.error.HTTPError:  # it answers, asking for login first (STUDIO_AUTH in `env`)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the studio did not start")


def through_server(clients: int, each: int, port: int, **env) -> float:
    """images/s of `clients` gradio_client users, each making `each` images one after another."""
    from gradio_client import Client
    server = serve(port, tempfile.mkdtemp(), **env)
    url = f"http://127.0.0.1:{port}/"

    def user(k: int):
        client = Client(url, verbose=False)
        for j in range(each):
            client.predict("a red circle", "", "mini-shapes", "DPM++ 2M Karras", 20, 7, k * each + j, 64, 64, 1,
                           api_name="/generate_image")

    try:
        user(99)  # loads the model: not timed
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(user, range(clients)))
        return clients * each / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(30)


def queue_throughput(clients: int = 8, each: int = 3) -> dict[str, float]:
    api.load("mini-shapes")
    started = time.perf_counter()
    for i in range(clients * each):
        api.generate_image("a red circle", model="mini-shapes", steps=20, seed=i, save=False)
    direct = clients * each / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(clients * each):  # what the page's event also does: save the PNG, decode a preview every 5 steps
        api.generate_image("a red circle", model="mini-shapes", steps=20, seed=i, save=True,
                           preview=lambda *a: None, preview_every=5)
    direct_page = clients * each / (time.perf_counter() - started)
    return {"direct": direct, "direct_page": direct_page,
            "queued": through_server(clients, each, 7871),
            "one_client": through_server(1, clients * each, 7872),
            "one_client_no_preview": through_server(1, clients * each, 7873, STUDIO_PREVIEW_EVERY="0")}


def main() -> None:
    config.configure([], env={"STUDIO_OUTPUT_DIR": tempfile.mkdtemp(), "STUDIO_HUB": "local"})
    switch = switch_seconds()
    q = queue_throughput()
    print("| figure | value |\n|---|---|")
    print(f"| model switch (evict one mini model, load the other, run 1 step; median of 6) | {switch:.3f} s |")
    print(f"| 8 gradio_client users x 3 images at once, through the queue | {q['queued']:.2f} images/s |")
    print(f"| 1 gradio_client user, 24 images one after another | {q['one_client']:.2f} images/s |")
    print(f"| the same, previews off (STUDIO_PREVIEW_EVERY=0) | {q['one_client_no_preview']:.2f} images/s |")
    print(f"| the same 24 images one after another in-process | {q['direct']:.2f} images/s |")
    print(f"| the same, saving PNGs and decoding a preview every 5 steps as the page does | "
          f"{q['direct_page']:.2f} images/s |")
    print(f"| queue / direct (same work) | {q['queued'] / q['direct_page']:.2f} |")


if __name__ == "__main__":
    main()
