"""The web process's own capacity (issue 40): queue events per second it serves with no model work.

    .venv/bin/python -m bench.bench_web [--clients 1,8,32] [--calls 40]

With the Ray backend the web process does no model work: it serves the page, the queue, the learners' limits and
the files. This starts `python app.py` (as bench_server.serve) and lets N gradio_client users call `/list_models`
(a queued event that reads the registry and the disk, no model) `--calls` times each, all at once; events/s =
all calls / wall time. The clients run in this process beside the server on the same 2 cores, so the figure is a
floor for the server alone.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bench.bench_class import free_port
from bench.bench_server import serve


def events_per_second(url: str, clients: int, calls: int) -> float:
    from gradio_client import Client
    users = [Client(url, verbose=False, download_files=False) for _ in range(clients)]

    def user(client) -> None:
        for _ in range(calls):
            client.predict("image", api_name="/list_models")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(user, users))
    return clients * calls / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--calls", type=int, default=40)
    args = p.parse_args()
    port = free_port()
    server = serve(port, tempfile.mkdtemp(prefix="bench-web-"), STUDIO_CLASS_SIZE="40")
    try:
        url = f"http://127.0.0.1:{port}/"
        events_per_second(url, 1, 3)  # warm: the first call builds caches
        print("| clients at once | queue events/s (`/list_models`) |\n|---|---|")
        for n in [int(c) for c in args.clients.split(",")]:
            print(f"| {n} | {events_per_second(url, n, args.calls):.1f} |")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
