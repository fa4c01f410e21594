"""Training a LoRA on a loaded Stable Diffusion pipeline's UNet with peft (模型微调).

The recipe of diffusers' train_text_to_image_lora.py, small: a copy of the UNet gets a peft LoRA on the
attention projections, the VAE and text encoder stay frozen, the loss is the scheduler's own target
(noise, or velocity for v-prediction models). The result is saved the way diffusers saves LoRAs, so
`pipe.load_lora_weights` reads it (and the 文生图 tab lists it).
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


COURSE_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # the attention projections in attn1 / attn2


@dataclass
class LoraJob:
    images: list[Image.Image]  # RGB, already at the training resolution
    captions: list[str]
    rank: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = COURSE_TARGETS
    learning_rate: float = 1e-4
    steps: int = 100
    batch_size: int = 1
    seed: int = 0


@dataclass
class LoraRun:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32) / 127.5 - 1.0).permute(2, 0, 1)


@torch.no_grad()
def _encode(pipe, job: LoraJob, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (the VAE's mean, scaled) and text embeddings of every example, once: they are frozen."""
    vae, text_encoder = pipe.vae, pipe.text_encoder
    pixels = torch.stack([to_tensor(im) for im in job.images]).to(device, vae.dtype)
    latents = torch.cat([vae.encode(pixels[i:i + 4]).latent_dist.mean for i in range(0, len(pixels), 4)])
    latents = (latents * vae.config.scaling_factor).float()
    ids = pipe.tokenizer(job.captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids.to(device)
    embeddings = text_encoder(ids)[0].float()
    return latents, embeddings


def train(pipe, job: LoraJob, on_step: Callable[[int, int, float], None] | None = None,
          stop: threading.Event | None = None) -> tuple[dict, LoraRun]:
    """The LoRA's state dict (diffusers key names) and the run. The pipeline itself is not changed."""
    from diffusers import DDPMScheduler
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    device = pipe.unet.device
    latents, embeddings = _encode(pipe, job, device)
    unet = copy.deepcopy(pipe.unet).to(torch.float32)
    if getattr(unet, "peft_config", None):  # LoRAs 文生图 loaded into the shared pipeline: train on the bare UNet
        unet.delete_adapters(list(unet.peft_config))
    unet.requires_grad_(False)
    # peft draws the LoRA's A matrices from torch's global generator: seeded here, so one seed gives one LoRA
    # whatever ran before in this process (fork_rng leaves the global state as it was)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.seed)
        unet.add_adapter(LoraConfig(r=job.rank, lora_alpha=job.alpha, init_lora_weights="gaussian",
                                    target_modules=list(job.targets)))
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=job.learning_rate, weight_decay=1e-2)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    generator = torch.Generator("cpu").manual_seed(job.seed)
    run, start = LoraRun(), time.perf_counter()
    unet.train()
    for step in range(job.steps):
        if stop is not None and stop.is_set():
            run.stopped = True
            break
        pick = torch.randint(0, len(latents), (job.batch_size,), generator=generator)
        x0 = latents[pick]
        noise = torch.randn(x0.shape, generator=generator).to(device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (job.batch_size,),
                          generator=generator).to(device)
        noisy = noise_scheduler.add_noise(x0, noise, t)
        target = noise if noise_scheduler.config.prediction_type == "epsilon" else \
            noise_scheduler.get_velocity(x0, noise, t)
        loss = F.mse_loss(unet(noisy, t, embeddings[pick]).sample.float(), target.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, job.steps, run.losses[-1])
    run.seconds = time.perf_counter() - start
    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}, run


def save(pipe, state: dict, folder: Path) -> Path:
    """folder/pytorch_lora_weights.safetensors, as diffusers' save_lora_weights writes it."""
    type(pipe).save_lora_weights(save_directory=str(folder), unet_lora_layers=state, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"


def smoothed(losses: list[float], weight: float = 0.9) -> list[float]:
    """The loss curve as TensorBoard smooths it: an exponential moving average, debiased so that the first
    steps are not pulled towards 0. Per-step diffusion losses are noisy (each step draws its own timestep),
    so only the smoothed curve shows whether training goes down."""
    out, average = [], 0.0
    for i, loss in enumerate(losses, 1):
        average = weight * average + (1 - weight) * loss
        out.append(average / (1 - weight ** i))
    return out


def parameter_count(in_features: int, out_features: int, rank: int) -> tuple[int, int]:
    """原理: (d x k of the full matrix W0, r x (d + k) of B and A)."""
    return in_features * out_features, rank * (in_features + out_features)
