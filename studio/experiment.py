"""优化实验 (the course's experiment A vs B): the same prompt and seed on two loads of the same model.

A: FP32, the classic attention processor, no VAE slicing.  B: FP16 on a GPU (a CPU keeps FP32: its half
precision is slower, not faster), PyTorch SDPA attention (xformers when installed on CUDA), VAE slicing, and
CPU offload when asked (CUDA only). Each load is measured: load time, generation time, peak memory.
"""
from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

import psutil
import torch
from PIL import Image


@dataclass
class Arm:
    name: str
    dtype: str
    attention: str
    vae_slicing: bool
    cpu_offload: bool
    load_s: float = 0.0
    run_s: float = 0.0
    peak_bytes: int = 0
    image: Image.Image | None = None


class PeakMemory:
    """Peak GPU memory (torch's counter) or, on a CPU, the process's peak resident memory above its start."""

    def __init__(self, device: str):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def __enter__(self):
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self):
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss - self.base)
            time.sleep(0.01)

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, psutil.Process().memory_info().rss - self.base)


def arms(device: str, cpu_offload: bool) -> list[Arm]:
    cuda = device.startswith("cuda")
    return [Arm("A", "float32", "classic", False, False),
            Arm("B", "float16" if cuda else "float32", "sdpa", True, cpu_offload and cuda)]


def run_arm(arm: Arm, load, generate, device: str) -> Arm:
    """load(arm) -> pipeline; generate(pipe) -> image. Memory is freed after the arm."""
    gc.collect()
    with PeakMemory(device) as memory:
        started = time.perf_counter()
        pipe = load(arm)
        arm.load_s = time.perf_counter() - started
        started = time.perf_counter()
        arm.image = generate(pipe)
        arm.run_s = time.perf_counter() - started
    arm.peak_bytes = memory.peak
    del pipe
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return arm


def configure(pipe, arm: Arm, device: str) -> None:
    """Arm A's classic attention, or B's SDPA / xformers, slicing and offload."""
    from diffusers.models.attention_processor import AttnProcessor
    if arm.attention == "classic":
        pipe.unet.set_attn_processor(AttnProcessor())
        pipe.vae.set_attn_processor(AttnProcessor())
    elif device.startswith("cuda"):
        try:
            pipe.enable_xformers_memory_efficient_attention()
            arm.attention = "xformers"
        except Exception:  # not installed: SDPA is already the default processor
            pass
    if arm.vae_slicing:
        pipe.vae.enable_slicing()
    if arm.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
