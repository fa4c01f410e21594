"""原理 for text to image: forward diffusion, the denoising timeline of a real run, and CFG's three predictions."""
from __future__ import annotations

import random
import threading
from dataclasses import replace

from PIL import Image

from .. import explain, images, shapes, validate
from ..i18n import t
from ..manager import manager
from ..engines.image import Interrupted, run
from ..errors import StudioError
from .common import _lang, _spec, check_stop
from .image import _image_job, generate_image

TIMELINE_FRAMES = 8


def forward_diffusion(image=None, t: int = 500, model: str = "mini-shapes") -> dict:
    """The image at timestep t of the forward (noising) process with the model's own noise schedule:
    {"image", "t", "abar", "signal", "noise", "curve": abar for every t}. No image: a mini-shapes drawing."""
    spec = _spec(model, "image")
    abar = explain.schedule(spec)
    t = validate.number("t", t, 0, len(abar) - 1, int)
    source = images.to_rgb(image) if image is not None else shapes.render(shapes.random_spec(random.Random(1)), 256)
    if max(source.size) < 256:  # a mini model's 64 px picture: enlarge first, so the noise grain stays visible
        scale = 256 / max(source.size)
        source = source.resize((round(source.width * scale), round(source.height * scale)), Image.LANCZOS)
    noisy, a = explain.add_noise(source, abar, t)
    return {"image": noisy, "source": source, "t": t, "abar": a, "signal": a ** 0.5, "noise": (1 - a) ** 0.5,
            "curve": abar.tolist()}


def denoising_timeline(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes",
                       sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                       seed: int = -1, width: int | None = None, height: int | None = None, *,
                       lang: str | None = None, stop: threading.Event | None = None) -> dict:
    """A real run, showing the clean image the model predicts at step 1 and about every steps/8 steps:
    {"frames": [(step, image)], "image": the result, "seed", "sampler", "notices"}. A sampler that exposes no
    prediction is replaced by Euler, with a notice. Setting `stop` ends it at the next step (StudioError "stopped")."""
    lang = _lang(lang)
    notices: list[str] = []
    job = _image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, 1, "cpu", lang,
                     notices)
    every = max(1, job.steps // TIMELINE_FRAMES)
    frames: list = []
    job.on_scheduler = lambda scheduler, pipe: explain.watch_predictions(scheduler, pipe, every, frames)
    result = _stoppable(model, job, stop)
    if not frames:
        notices.append(t("notice_timeline_euler", lang, sampler=job.sampler))
        job = replace(job, sampler="Euler")
        result = _stoppable(model, job, stop)
    return {"frames": frames, "image": result[0], "seed": job.seeds[0], "sampler": job.sampler, "notices": notices}


def _stoppable(model: str, job, stop: threading.Event | None):
    check_stop(stop)
    try:
        return manager().run(model, lambda pipe: run(pipe, job, None, stop))
    except Interrupted:
        raise StudioError("stopped") from None


def cfg_parts(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
              steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
              height: int | None = None, *, lang: str | None = None, stop: threading.Event | None = None) -> dict:
    """The three predictions CFG combines, each run to the end from the same noise: eps_uncond alone (the negative
    prompt, or empty), eps_cond alone (CFG 1) and eps_uncond + s (eps_cond - eps_uncond) (CFG s).
    Setting `stop` ends it at the next step (StudioError "stopped")."""
    lang = _lang(lang)
    common = dict(model=model, sampler=sampler, steps=steps, width=width, height=height, save=False, lang=lang,
                  stop=stop)
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


