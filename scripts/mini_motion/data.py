"""The training clips of mini-motion's recipes (train.py's and the attempts'): the clip list a seed fixes, and the
renderer that draws them in worker processes. The clips themselves are studio.video.motion's."""
from __future__ import annotations

import functools
import random
from contextlib import contextmanager

import numpy as np

from studio.video import motion


def training_clips(args) -> list[motion.Clip]:
    """args.clips clips (no held-out shape-colour pair), fixed by args.seed."""
    rng = random.Random(args.seed)
    return [motion.random_clip(rng) for _ in range(args.clips)]


@contextmanager
def renderer(workers: int, frames: int = motion.FRAMES):
    """render(clips) -> uint8 [N, F, H, W, 3], in `workers` processes (6000 clips take ~100 s in one). One pool
    for the whole stage: a first version forked a pool per chunk of 32 clips (188 pools), and encoding took 213 s
    on a 16-core GPU machine."""
    draw = functools.partial(motion.render, frames=frames)
    if workers <= 1:
        yield lambda clips: np.stack([draw(c) for c in clips])
        return
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield lambda clips: np.stack(pool.map(draw, clips, chunksize=max(1, len(clips) // workers)))
