"""The Ray Serve path on a GPU (issue 40): random weights of the SD 1.5 architecture, served by one image replica
of a local Ray head, against the same pipeline in-process on the same card. At most a few minutes on one GPU.

    .venv/bin/python -m bench.bench_ray_gpu            # needs CUDA and ray[serve]; prints a Markdown table
    .venv/bin/python -m bench.bench_ray_gpu --dry-run  # CPU, 64 px, 2 steps: checks the script, not the speed

Measured: the replica's device, load + first picture through Serve, seconds per picture through Serve and
in-process (same seed: the same pixels?), and a class burst (8 learners x 2 pictures at once) through Serve in
pictures per minute, with the replica's merged batches. Record the output in bench/RESULTS.md with the GPU.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_gpu import random_pipeline
from studio import api
from studio.core import backend, config
from studio.core.scheduler import Ticket, reset_scheduler, scheduler


PROMPT = "a photo of a cat"
SAMPLER = "DPM++ 2M Karras"


def picture(size: int, steps: int, seed: int, ticket: Ticket | None = None, local: bool = False):
    call = api.generate_image.local if local else api.generate_image
    kwargs = dict(prompt=PROMPT, model="random-sd15", sampler=SAMPLER, steps=steps, cfg_scale=7, seed=seed,
                  width=size, height=size, save=False, generator_device="cpu")
    if ticket is None:
        return call(**kwargs)
    return scheduler().run(ticket, lambda: call(stop=ticket, **kwargs))


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def burst(learners: int, each: int, size: int, steps: int) -> tuple[float, int]:
    """Every learner submits `each` pictures at once through the page's path (a by-unit ticket each)."""
    done: list = []

    def learner(i: int) -> None:
        for k in range(each):
            ticket = Ticket(f"class|{i}", what="image", by_unit=True, model="random-sd15")
            scheduler().admit(ticket)
            done.append(picture(size, steps, 1000 + 10 * i + k, ticket))

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(learners)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, len(done)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="CPU, 64 px, 2 steps: checks the script")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("bench_ray_gpu needs a CUDA GPU (or --dry-run)")
    device = "cpu" if args.dry_run else "cuda"
    size, steps, runs = (64, 2, 2) if args.dry_run else (512, 25, args.runs)
    root = Path(tempfile.mkdtemp())
    random_pipeline("sd15", root / "random-sd15", device)
    env = {"STUDIO_MODEL_DIRS": str(root), "STUDIO_OUTPUT_DIR": str(root / "out"), "STUDIO_HUB": "local",
           "STUDIO_DEVICE": device, "STUDIO_BACKEND": "ray", "STUDIO_WORKERS": "auto", "STUDIO_RAY_FAMILIES": "image",
           "STUDIO_RAY_GPUS": "auto", "STUDIO_RAY_MIN_REPLICAS": "1", "STUDIO_RAY_MAX_REPLICAS": "1"}
    values = config.configure([], env=env)
    reset_scheduler()
    from studio.cluster import client
    started = time.perf_counter()
    client.connect(values)
    deployed = time.perf_counter() - started
    first, _ = timed(lambda: picture(size, steps, 0))
    served = [timed(lambda: picture(size, steps, 1 + i))[0] for i in range(runs)]
    replica = next(r for r in client.replicas() if r["family"] == "image")
    seconds, count = burst(8, 2, size, steps)
    remote = picture(size, steps, 7)
    print(f"device: {replica.get('device_name', replica['device'])}; torch {torch.__version__}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; SD 1.5 random weights, {size} px, {steps} steps, {SAMPLER}")
    backend.send_with(None)  # in-process from here, on the same card (the replica keeps its copy meanwhile)
    local_first, _ = timed(lambda: picture(size, steps, 0, local=True))
    local = [timed(lambda: picture(size, steps, 1 + i, local=True))[0] for i in range(runs)]
    same = picture(size, steps, 7, local=True)
    diff = np.abs(np.asarray(remote.images[0], int) - np.asarray(same.images[0], int))
    print("| path | start (s) | load + first picture (s) | s / picture (median) | class burst 8x2 (pictures/min) |")
    print("|---|---|---|---|---|")
    print(f"| Ray Serve, 1 replica | {deployed:.1f} | {first:.2f} | {statistics.median(served):.3f} | "
          f"{60 * count / seconds:.1f} |")
    print(f"| in-process | - | {local_first:.2f} | {statistics.median(local):.3f} | - |")
    print(f"same seed, same picture: max pixel difference {diff.max()}, {100 * (diff > 0).mean():.2f} % of values")
    print(f"replica: {replica['replica']} on node {replica['node'][:8]}, loaded {replica['loaded']}, "
          f"done {replica['done']}")


if __name__ == "__main__":
    main()
