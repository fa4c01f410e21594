"""Image generation on a loaded diffusers pipeline (Stable Diffusion 1.5 / SDXL and the mini models).

One job runs as text-to-image, image-to-image or inpainting on the same loaded weights (`from_pipe`
shares every component), optionally followed by a hires-fix pass: upscale, then image-to-image.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio.image import lora, prompt_steps, row_guidance, weighting
from studio.image.samplers import make_scheduler


HIRES_UPSCALERS = ("Latent", "Lanczos")


@dataclass
class Hires:
    scale: float  # 1-4
    upscaler: str  # one of HIRES_UPSCALERS: "Latent" (upscale the latents) or "Lanczos" (the decoded image)
    steps: int  # second-pass steps
    strength: float  # second-pass denoising strength (course range 0.4-0.7)


@dataclass
class ImageJob:
    prompt: str
    negative_prompt: str
    sampler: str
    steps: int
    cfg_scale: float
    seeds: list[int]  # one per image of this batch
    width: int
    height: int
    generator_device: str = "cpu"  # CPU noise: the same seed gives the same picture on any machine
    schedule_type: str = "Automatic"  # A1111's Schedule type (studio.image.samplers.SCHEDULES)
    init_image: Image.Image | None = None  # img2img / inpainting source, already at width x height
    mask: Image.Image | None = None  # inpainting: white = repaint
    strength: float = 0.75  # img2img / inpainting denoising strength
    hires: Hires | None = None
    on_scheduler: Callable | None = None  # (scheduler, pipe) -> None, before the first pass (原理 watches it)
    loras: list = field(default_factory=list)  # (name, weights file, weight); none: every adapter off
    use_old_scheduling: bool = False  # A1111's "Old prompt editing timelines" (studio.image.prompt_schedule)
    controls: tuple = ()  # ControlNet units' settings (studio.image.control.Control), in the nets' order
    control_images: list = field(default_factory=list)  # this job's control image per unit, at width x height
    guess_mode: bool = False  # ControlNet "guess mode" (A1111's Control Mode "ControlNet is more important")

    @property
    def mode(self) -> str:
        return "inpaint" if self.mask is not None else "img2img" if self.init_image is not None else "txt2img"

    @property
    def out_size(self) -> tuple[int, int]:
        if self.hires is None:
            return self.width, self.height
        return hires_size(self.width, self.height, self.hires.scale)


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return int(round(width * scale / 8)) * 8, int(round(height * scale / 8)) * 8


class Interrupted(Exception):
    """The user pressed stop; images finished before it are kept by the caller."""


# (step done, total steps, latents after the step) -> None; total counts both passes of a hires job
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass
class Unit:
    """One job's rows of a device call: its job (prompt, seeds, source image), step callback and stop flag. Units
    share one call when their jobs differ only in the row fields (studio.image.merging.merge_key)."""
    job: ImageJob
    on_step: StepCallback | None = None
    stop: threading.Event | None = None

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def run(pipe, job: ImageJob, on_step: StepCallback | None = None,
        stop: threading.Event | None = None, nets: list | None = None) -> list[Image.Image]:
    """Run one batch. The caller holds the model exclusively (pipelines keep per-call state)."""
    return run_units(pipe, [Unit(job, on_step, stop)], nets)[0]


def run_units(pipe, units: list[Unit], nets: list | None = None) -> list[list[Image.Image]]:
    """Run the batches of several jobs with equal merge keys as one call: each row with its own generator, prompt,
    CFG scale, source and control images, each unit's steps reported to its own callback with its own rows' latents.
    Interrupted when every unit is stopped; a stopped unit among running ones gets its images too (the caller drops
    them). nets: the loaded ControlNets of the job's controls, in their order."""
    job = units[0].job  # every setting but the rows' is the same in all units
    lora.apply(pipe, job.loras)  # also for image to image: from_pipe shares the UNet and its adapters
    scheduler = _scheduler(pipe, job.sampler, job.schedule_type)
    first_steps = _pass_steps(job.steps, job.strength if job.mode != "txt2img" else 1.0)
    total = first_steps + (_pass_steps(job.hires.steps, job.hires.strength) if job.hires else 0)
    keep_latents = job.hires is not None and job.hires.upscaler == "Latent"
    first_pass = {"txt2img": _text_pipe, "img2img": _img2img_pipe, "inpaint": _inpaint_pipe}[job.mode](pipe)
    if job.controls:
        first_pass = _with_controlnets(first_pass, job.mode, nets)
    first_pass.scheduler = scheduler
    if job.on_scheduler is not None:
        job.on_scheduler(scheduler, pipe)
    extra = {}
    if job.mode != "txt2img":
        extra = {"image": _per_row(units, "init_image"), "strength": job.strength}
        if job.mode == "inpaint":
            extra["mask_image"] = _per_row(units, "mask")
    extra.update(_control_args(units, job.mode, job.width, job.height))
    out = _call(first_pass, units, job.steps, job.width, job.height, extra, "latent" if keep_latents else "pil",
                _callback(units, 0, total), hires=False)
    if job.mode == "inpaint":  # outside the mask the source's own pixels, not their trip through the VAE
        sources, masks = _per_row(units, "init_image"), _per_row(units, "mask")
        return _split(units, [Image.composite(img, src, m) for img, src, m in zip(out, sources, masks)])
    if job.hires is None:
        return _split(units, out)
    second = _img2img_pipe(pipe)
    if job.controls:  # the hires pass is steered too (A1111's default "Both"), by the control images upscaled
        second = _with_controlnets(second, "img2img", nets)
    second.scheduler = _scheduler(pipe, job.sampler, job.schedule_type)
    w, h = job.out_size
    if keep_latents:  # nearest-exact latent upscale as the web UIs' "Latent" upscaler
        image = F.interpolate(out, size=(h // pipe.vae_scale_factor, w // pipe.vae_scale_factor), mode="nearest-exact")
    else:
        image = [img.resize((w, h), Image.LANCZOS) for img in out]
    extra = {"image": image, "strength": job.hires.strength, **_control_args(units, "img2img", w, h)}
    return _split(units, _call(second, units, job.hires.steps, w, h, extra, "pil", _callback(units, first_steps, total),
                               hires=True))


def _with_controlnets(pipe, mode: str, nets: list):
    """The ControlNet variant of a mode's pipeline on the same components: diffusers' AutoPipeline picks
    StableDiffusion(XL)ControlNet(Img2Img|Inpaint)Pipeline from the pipeline and the net; several nets go in
    a MultiControlNetModel. Made per call (cheap: nothing is copied), as the nets change from job to job."""
    import diffusers
    auto = {"txt2img": diffusers.AutoPipelineForText2Image, "img2img": diffusers.AutoPipelineForImage2Image,
            "inpaint": diffusers.AutoPipelineForInpainting}[mode]
    net = nets[0] if len(nets) == 1 else diffusers.MultiControlNetModel(nets)
    made = auto.from_pipe(pipe, controlnet=net)
    made.set_progress_bar_config(disable=True)
    return made


def _control_args(units: list[Unit], mode: str, width: int, height: int) -> dict:
    """A ControlNet call's arguments: each row's control images (at the pass's size) and each unit's weight and
    start / end; text to image takes the control as `image`, the others as `control_image`."""
    job = units[0].job
    if not job.controls:
        return {}
    rows = [[_sized(image, width, height) for image in images] for images in _per_row(units, "control_images")]
    single = len(job.controls) == 1
    settings = [(c.weight, c.start, c.end) for c in job.controls]
    weight, start, end = ([list(v) for v in zip(*settings)] if not single else settings[0])
    # one net: a list of each row's image. Several: per net, its rows as one [0, 1] tensor batch, the one form
    # every ControlNet pipeline reads alike (nested lists mean [row][net] to some and are refused by others)
    images = [r[0] for r in rows] if single else [_batch([r[i] for r in rows]) for i in range(len(job.controls))]
    return {"image" if mode == "txt2img" else "control_image": images,
            "controlnet_conditioning_scale": weight, "control_guidance_start": start, "control_guidance_end": end,
            "guess_mode": job.guess_mode}


def _batch(images: list[Image.Image]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                        for im in images])


def _sized(image: Image.Image, width: int, height: int) -> Image.Image:
    return image if image.size == (width, height) else image.resize((width, height), Image.LANCZOS)


def _per_row(units: list[Unit], name: str) -> list:
    return [getattr(u.job, name) for u in units for _ in u.job.seeds]


def _spans(units: list[Unit]) -> list[slice]:
    starts = [0]
    for u in units:
        starts.append(starts[-1] + len(u.job.seeds))
    return [slice(a, b) for a, b in zip(starts, starts[1:])]


def _split(units: list[Unit], rows: list) -> list[list]:
    return [list(rows[span]) for span in _spans(units)]


def schedule_steps(steps: int, strength: float) -> int:
    """The schedule length handed to image to image, which runs only its last `strength` share: lengthened so
    that at least one step runs (4 steps at strength 0.1 would otherwise run none)."""
    return max(steps, math.ceil(1 / strength - 1e-9))


def _pass_steps(steps: int, strength: float) -> int:
    """How many steps a pass really runs."""
    return min(steps, int(schedule_steps(steps, strength) * strength)) if strength < 1 else steps


def _call(pipe, units: list[Unit], steps: int, width: int, height: int, extra: dict, output_type: str, callback,
          hires: bool):
    job = units[0].job
    generators = [torch.Generator(job.generator_device).manual_seed(s) for u in units for s in u.job.seeds]
    text, callback, tensor_inputs = _conditioning(pipe, units, callback, hires)
    # image-to-image pipelines take the size from the image; the others are told it
    size = {} if "Img2Img" in type(pipe).__name__ else {"width": width, "height": height}
    if "strength" in extra:
        steps = schedule_steps(steps, extra["strength"])
    scales = _per_row(units, "cfg_scale")  # merged rows may differ in CFG (studio.image.row_guidance)
    # inference_mode: diffusers' no_grad still counts tensor versions, 5% of a mini-shapes call
    with torch.inference_mode(), row_guidance.per_row(pipe, scales):
        out = pipe(**text, num_inference_steps=steps, guidance_scale=row_guidance.call_scale(scales),
                   generator=generators, callback_on_step_end=callback,
                   callback_on_step_end_tensor_inputs=tensor_inputs, output_type=output_type, **size, **extra)
    if getattr(pipe, "_interrupt", False):
        raise Interrupted()
    return out.images if output_type == "latent" else list(out.images)


def _conditioning(pipe, units: list[Unit], callback, hires: bool) -> tuple[dict, Callable, list[str]]:
    """The call's text arguments, step callback and the tensors it sees. With prompt editing or alternation in any
    row (studio.image.prompt_steps), embeddings that the callback swaps as each row's texts change."""
    parts = [prompt_steps.segments(u.job, hires) for u in units]
    if all(prompt_steps.is_static(p, u.job) for p, u in zip(parts, units)):
        text = _text(pipe, units[0].job) if len(units) == 1 else _merged_text(pipe, units)
        return text, callback, ["latents"]
    stepwise = prompt_steps.Stepwise(pipe, [u.job for u in units], parts, lambda job: _embeds(pipe, job))

    def step_end(pipe, i, timestep, tensors):
        return stepwise.swap(pipe, i, callback(pipe, i, timestep, tensors))
    return stepwise.first(), step_end, ["latents", *stepwise.tensor_inputs]


def _text(pipe, job: ImageJob) -> dict:
    """One job's prompts as the pipeline takes them: plain text, or compel's embeddings for weighted or long ones."""
    n = len(job.seeds)
    if weighting.needs_compel(pipe, job.prompt, job.negative_prompt):
        return weighting.encode(pipe, job.prompt, job.negative_prompt, n)
    return {"prompt": [job.prompt] * n, "negative_prompt": [job.negative_prompt] * n if job.negative_prompt else None}


_EMBEDS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")


@torch.no_grad()
def _merged_text(pipe, units: list[Unit]) -> dict:
    """Each unit's prompts encoded as its lone call encodes them, stacked: a row's conditioning is the same whoever
    it shares the call with. Encodings of different lengths cannot stack (merge_key keeps such units apart;
    torch.cat refuses them)."""
    encoded = [_embeds(pipe, unit.job) for unit in units]
    return {name: torch.cat([e[name] for e in encoded]) for name in encoded[0]}


@torch.no_grad()
def _embeds(pipe, job: ImageJob) -> dict:
    """A job's prompts as embeddings (the pipeline's own encode_prompt, or compel), as its lone call encodes them."""
    text = _text(pipe, job)
    if "prompt" in text:  # what the pipeline would do with the text itself, done here
        text = dict(zip(_EMBEDS, pipe.encode_prompt(prompt=text["prompt"], device=pipe._execution_device,
                                                     num_images_per_prompt=1, do_classifier_free_guidance=True,
                                                     negative_prompt=text["negative_prompt"])))
    return text


def _callback(units: list[Unit], offset: int, total: int):
    spans = _spans(units)

    def step_end(pipe, step, _timestep, tensors):
        live = [(u, span) for u, span in zip(units, spans) if not u.stopped]
        if not live:
            pipe._interrupt = True  # diffusers skips the remaining steps
        for unit, span in live:
            if unit.on_step is not None:
                unit.on_step(offset + step + 1, total, tensors["latents"][span])
        return tensors
    return step_end


def _scheduler(pipe, sampler: str, schedule_type: str = "Automatic"):
    # Always derive from the model's own scheduler config, not from the previous run's sampler
    # (whose options, e.g. Karras sigmas, would otherwise leak into the next one).
    if not hasattr(pipe, "_studio_scheduler_config"):
        pipe._studio_scheduler_config = pipe.scheduler.config
    return make_scheduler(sampler, pipe._studio_scheduler_config, schedule_type)


def _text_pipe(pipe):
    return pipe


def _img2img_pipe(pipe):
    """The image-to-image pipeline on the same components, made once per loaded model."""
    if not hasattr(pipe, "_studio_img2img"):
        from diffusers import AutoPipelineForImage2Image
        pipe._studio_img2img = AutoPipelineForImage2Image.from_pipe(pipe)
        pipe._studio_img2img.set_progress_bar_config(disable=True)
    return pipe._studio_img2img


def _inpaint_pipe(pipe):
    if not hasattr(pipe, "_studio_inpaint"):
        from diffusers import AutoPipelineForInpainting
        pipe._studio_inpaint = AutoPipelineForInpainting.from_pipe(pipe)
        pipe._studio_inpaint.set_progress_bar_config(disable=True)
    return pipe._studio_inpaint


@torch.no_grad()
def decode_preview(pipe, latents: torch.Tensor) -> list[Image.Image]:
    """The current latents through the VAE (for the live preview; the last step gives the final image)."""
    vae = pipe.vae
    scaled = latents.to(vae.dtype) / vae.config.scaling_factor
    decoded = vae.decode(scaled).sample
    return pipe.image_processor.postprocess(decoded, output_type="pil")
