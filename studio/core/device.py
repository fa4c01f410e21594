"""Device, precision and memory policy: one place decides where models run and how much fits."""
from __future__ import annotations

import gc
import logging
from contextlib import contextmanager

import psutil
import torch

from studio.core.config import settings


def pick_device() -> str:
    wanted = settings().device
    if wanted and wanted != "auto":
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, prefer_bf16: bool = False) -> torch.dtype:
    """fp16 (or bf16 where the model prefers it) on a GPU; fp32 on a CPU, where half precision is slow."""
    if not device.startswith("cuda"):
        return torch.float32
    if prefer_bf16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def free_memory(device: str) -> int:
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)


def default_budget(device: str) -> int:
    """The memory models may use on `device` when the operator set no budget (STUDIO_MEMORY_BUDGET=auto).

    On CPU the kernel's OOM killer ends the whole process rather than raising, so the budget
    check before a load is the only protection: take 60% of what is free now.
    """
    share = 0.9 if device.startswith("cuda") else 0.6
    return int(free_memory(device) * share)


@contextmanager
def quiet_diffusers():
    """Silence diffusers' warnings for a moment: parking an FP16 pipeline in CPU RAM warns that it cannot run
    there, once per component, though a parked model is always moved back to the GPU before it runs."""
    log = logging.getLogger("diffusers")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def release_cached_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError)


def module_bytes(obj) -> int:
    """Bytes of parameters and buffers of every torch module in a pipeline or model holder."""
    modules = []
    if isinstance(obj, torch.nn.Module):
        modules = [obj]
    elif hasattr(obj, "components"):  # diffusers pipeline
        modules = [m for m in obj.components.values() if isinstance(m, torch.nn.Module)]
    elif hasattr(obj, "modules"):
        modules = list(obj.modules())
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def apply_pipeline_options(pipe, device: str, options: dict) -> None:
    """Attention kernels, VAE slicing/tiling and CPU offload for a diffusers pipeline, then placement.

    Offload must be enabled instead of `.to(device)`, never after it.
    """
    if settings().attention == "xformers" and device.startswith("cuda"):
        try:
            pipe.enable_xformers_memory_efficient_attention()
        except Exception:  # xformers missing or unsupported: SDPA stays in place
            pass
    vae = getattr(pipe, "vae", None)
    if options.get("vae_slicing") and vae is not None and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if options.get("vae_tiling") and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if options.get("cpu_offload") and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
