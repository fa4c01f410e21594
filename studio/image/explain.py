"""原理 (how it works) for text to image, computed from the model's real parts.

- forward diffusion: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with the model's own noise schedule;
- the denoising timeline: the clean image the model predicts at each step of a real run;
- classifier-free guidance: eps = eps_uncond + s (eps_cond - eps_uncond), as the three images it combines.

The public calls: forward_diffusion, denoising_timeline, cfg_parts.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from studio.core import validate
from studio.core.calls import caller_lang, check_stop, task_spec
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.manager import manager
from studio.core.registry import ASSETS
from studio.image import prompt_steps, shapes
from studio.image import uploads as images
from studio.image.api import generate_image, image_job
from studio.image.engine import Interrupted, run


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


# ---- 原理 for text to image: forward diffusion, the denoising timeline of a real run, and CFG's three
# predictions. ----
TIMELINE_FRAMES = 8


def forward_diffusion(image=None, t: int = 500, model: str = "mini-shapes") -> dict:
    """The image at timestep t of the forward (noising) process with the model's own noise schedule:
    {"image", "t", "abar", "signal", "noise", "curve": abar for every t}. No image: a mini-shapes drawing."""
    spec = task_spec(model, "image")
    abar = schedule(spec)
    t = validate.number("t", t, 0, len(abar) - 1, int)
    source = images.to_rgb(image) if image is not None else shapes.render(shapes.random_spec(random.Random(1)), 256)
    if max(source.size) < 256:  # a mini model's 64 px picture: enlarge first, so the noise grain stays visible
        scale = 256 / max(source.size)
        source = source.resize((round(source.width * scale), round(source.height * scale)), Image.LANCZOS)
    noisy, a = add_noise(source, abar, t)
    return {"image": noisy, "source": source, "t": t, "abar": a, "signal": a ** 0.5, "noise": (1 - a) ** 0.5,
            "curve": abar.tolist()}


def denoising_timeline(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes",
                       sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                       seed: int = -1, width: int | None = None, height: int | None = None, *,
                       lang: str | None = None, stop: threading.Event | None = None,
                       schedule_type: str = "Automatic") -> dict:
    """A real run, showing the clean image the model predicts at step 1 and about every steps/8 steps:
    {"frames": [(step, image)], "prompts": the prompt each frame's step used (prompt editing), "changes": (first
    step, last step, prompt) of each stretch, "image": the result, "seed", "sampler", "notices"}. A sampler that
    exposes no prediction is replaced by Euler, with a notice. Setting `stop` ends it at the next step (StudioError
    "stopped")."""
    lang = caller_lang(lang)
    notices: list[str] = []
    job = image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, 1, "cpu", lang,
                     notices, schedule_type=schedule_type)
    every = max(1, job.steps // TIMELINE_FRAMES)
    frames: list = []
    job.on_scheduler = lambda scheduler, pipe: watch_predictions(scheduler, pipe, every, frames)
    result = _stoppable(model, job, stop)
    if not frames:
        notices.append(t("notice_timeline_euler", lang, sampler=job.sampler))
        job = replace(job, sampler="Euler")
        result = _stoppable(model, job, stop)
    parts = prompt_steps.segments(job)
    used = [parts[prompt_steps.index_at(parts, step - 1)].prompt for step, _image in frames]  # frames count from 1
    return {"frames": frames, "prompts": used, "changes": _changes(parts, job.steps), "image": result[0],
            "seed": job.seeds[0], "sampler": job.sampler, "notices": notices}


def _changes(parts, steps: int) -> list[tuple[int, int, str]]:
    """(first step, last step, prompt) of each stretch of the run with one prompt (steps counted from 1); one
    stretch when the prompt has no editing or alternation."""
    out: list[tuple[int, int, str]] = []
    first = 1
    for part in parts:
        last = min(part.until + 1, steps)  # the last entry's until is the step count (A1111), past the last step
        if last >= first:
            out.append((first, last, part.prompt))
            first = last + 1
    return out


def _stoppable(model: str, job, stop: threading.Event | None):
    check_stop(stop)
    try:
        return manager().run(model, lambda pipe: run(pipe, job, None, stop))
    except Interrupted:
        raise StudioError("stopped") from None


def cfg_parts(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
              steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
              height: int | None = None, *, lang: str | None = None, stop: threading.Event | None = None,
              schedule_type: str = "Automatic") -> dict:
    """The three predictions CFG combines, each run to the end from the same noise: eps_uncond alone (the negative
    prompt, or empty), eps_cond alone (CFG 1) and eps_uncond + s (eps_cond - eps_uncond) (CFG s).
    Setting `stop` ends it at the next step (StudioError "stopped")."""
    lang = caller_lang(lang)
    common = dict(model=model, sampler=sampler, steps=steps, width=width, height=height, save=False, lang=lang,
                  stop=stop, schedule_type=schedule_type)
    guided = generate_image(prompt, negative_prompt, cfg_scale=cfg_scale, seed=seed, **common)
    check_stop(stop)
    fixed = guided.seeds[0]
    uncond = generate_image(negative_prompt, "", cfg_scale=1, seed=fixed, **common)
    check_stop(stop)
    cond = generate_image(prompt, "", cfg_scale=1, seed=fixed, **common)
    check_stop(stop)
    s = float(guided.infotexts[0].split("CFG scale: ")[1].split(",")[0])
    return {"uncond": uncond.images[0], "cond": cond.images[0], "guided": guided.images[0], "cfg_scale": s,
            "seed": fixed, "notices": guided.notices}
