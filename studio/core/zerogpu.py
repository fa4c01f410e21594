"""Hugging Face ZeroGPU support: on a ZeroGPU Space a GPU is lent per call to functions wrapped in `spaces.GPU`.

There the model manager keeps the preloaded models resident (ZeroGPU moves them on and off the lent GPU itself;
evicting would reload from disk on every call), and the app wraps every event of the shared "gpu" queue slot.
Everywhere else (no `spaces` package, or not on ZeroGPU) nothing changes.
"""
from __future__ import annotations

import importlib.util
import os


DURATION = 120  # seconds of GPU a call may hold; video and LoRA training can take that long


def active() -> bool:
    """On a ZeroGPU Space (the platform sets SPACES_ZERO_GPU) with the `spaces` package installed."""
    return bool(os.environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


def wrap_gpu_events(demo, concurrency_id: str, duration: int = DURATION) -> int:
    """Wrap the function of every event in the `concurrency_id` queue slot with spaces.GPU; returns how many."""
    import spaces
    count = 0
    for block_fn in demo.fns.values():
        if block_fn.concurrency_id == concurrency_id and block_fn.fn is not None:
            block_fn.fn = spaces.GPU(duration=duration)(block_fn.fn)
            count += 1
    return count
