"""原理 (how it works) for text to image, computed from the model's real parts.

- forward diffusion: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with the model's own noise schedule;
- the denoising timeline: the clean image the model predicts at each step of a real run;
- classifier-free guidance: eps = eps_uncond + s (eps_cond - eps_uncond), as the three images it combines.
"""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from .registry import ASSETS

def schedule(spec) -> np.ndarray:
    """abar_t (alphas_cumprod) for t = 0..T-1 from the model's scheduler config (SD 1.5's when not on disk)."""
    from diffusers import DDPMScheduler
    folder = spec.path / "scheduler" if spec.path is not None and (spec.path / "scheduler").is_dir() \
        else ASSETS / "pipelines" / "sd15" / "scheduler"
    config = json.loads((folder / "scheduler_config.json").read_text(encoding="utf-8"))
    keep = {k: config[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                   "trained_betas", "rescale_betas_zero_snr") if k in config}
    return DDPMScheduler(**keep).alphas_cumprod.numpy()


def add_noise(image: Image.Image, abar: np.ndarray, t: int, seed: int = 0) -> tuple[Image.Image, float]:
    """The image at timestep t of the forward process (in pixel space, [-1, 1]), and abar_t."""
    x0 = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    eps = np.random.default_rng(seed).standard_normal(x0.shape).astype(np.float32)
    a = float(abar[t])
    xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
    return Image.fromarray(((np.clip(xt, -1, 1) + 1) * 127.5).round().astype(np.uint8)), a


def watch_predictions(scheduler, pipe, every: int, out: list) -> None:
    """Make `scheduler.step` also record the predicted clean image (decoded) at step 1 and every `every` steps
    into `out` as (step, image): from the step's `pred_original_sample` (Euler, DDIM, LMS, ...) or, for the
    DPM++ and UniPC solvers, from their state, which holds the x0 prediction. Records nothing otherwise."""
    original = scheduler.step
    config = scheduler.config
    state_is_x0 = "++" in str(config.get("algorithm_type", "")) or (
        type(scheduler).__name__ == "UniPCMultistepScheduler" and config.get("predict_x0", True))
    count = [0]

    def step(model_output, timestep, sample, *args, **kwargs):
        result = original(model_output, timestep, sample, *args, **kwargs)
        last = getattr(scheduler, "step_index", None) == len(scheduler.timesteps)
        if not getattr(scheduler, "state_in_first_order", True) and not last:
            return result  # Heun / DPM2: the first half of a two-evaluation step
        count[0] += 1
        if isinstance(result, tuple):  # pipelines call step(..., return_dict=False): (prev_sample, x0, ...)
            x0 = result[1] if len(result) > 1 and torch.is_tensor(result[1]) else None
        else:
            x0 = getattr(result, "pred_original_sample", None)
        if x0 is None and state_is_x0 and getattr(scheduler, "model_outputs", None):
            x0 = scheduler.model_outputs[-1]
        if x0 is not None and (count[0] == 1 or count[0] % every == 0):
            out.append((count[0], decode(pipe, x0)))
        return result

    scheduler.step = step


@torch.no_grad()
def decode(pipe, latents: torch.Tensor) -> Image.Image:
    vae = pipe.vae
    image = vae.decode(latents[:1].to(vae.dtype) / vae.config.scaling_factor).sample
    return pipe.image_processor.postprocess(image, output_type="pil")[0]
