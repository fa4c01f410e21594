"""Text to image (and image to image, inpainting, hires fix), the code behind a picture, PNG parameters."""
from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from PIL import Image

from studio.core import aigc_label, safety, validate
from studio.core.backend import Sent, routed
from studio.core.calls import PROMPT_CAP, Progress, caller_lang, task_spec
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.knobs import model_defaults
from studio.core.manager import manager
from studio.core.outputs import save_png, with_parameters
from studio.core.results import ImageResult
from studio.core.scheduler import Offer, end_turn, merged
from studio.core.specs import ModelSpec, weights_hash
from studio.image import code as codegen
from studio.image import control as _control
from studio.image import lora, prompt_steps, weighting
from studio.image import prompt_schedule as schedule
from studio.image import samplers as _samplers
from studio.image import uploads as images
from studio.image.engine import (
    HIRES_UPSCALERS,
    Hires,
    ImageJob,
    Interrupted,
    Unit,
    decode_preview,
    hires_size,
    run_units,
)
from studio.image.infotext import format_infotext, parse_infotext, read_image_text
from studio.image.knobs import KNOBS
from studio.image.merging import merge_key


MAX_BATCH = 8
MAX_BATCH_COUNT = KNOBS["batch_count"].high
Preview = Callable[[list, int, int], None]  # (images, step, total)


# -- text to image ------------------------------------------------------------------------------
def image_samplers(model: str | None = None) -> list[str]:
    """Sampler names (A1111 1.10's base names) that apply to `model`: those its scheduler family supports (every
    listed sampler for the Stable Diffusion family; LCM only for an LCM model); None: every listed sampler. A model
    for another task is refused with a message."""
    if model is None:
        return _samplers.names()
    spec = task_spec(model, "image")
    return _samplers.names(spec.loader, lcm=_is_lcm(spec))


def image_schedule_types(sampler: str) -> list[str]:
    """The schedule types (A1111 1.9+: Automatic, Karras, Exponential, Beta, SGM Uniform, Simple) that `sampler`
    takes, as its diffusers scheduler class accepts them; an old joined name ("DPM++ 2M Karras") counts as its
    base sampler. A sampler that is not listed gets a message."""
    base = _samplers.split(sampler)[0] if isinstance(sampler, str) else None
    if base not in _samplers.SAMPLERS:
        raise StudioError("bad_choice", name="sampler", value=str(sampler)[:60], choices=", ".join(_samplers.names()))
    return _samplers.schedule_types(base)


def _is_lcm(spec: ModelSpec) -> bool:
    """An LCM-distilled model: its card's sampler is LCM, or its scheduler config names LCMScheduler."""
    if spec.defaults().get("sampler") == _samplers.LCM:
        return True
    config = spec.path / "scheduler" / "scheduler_config.json" if spec.path is not None else None
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("_class_name") == "LCMScheduler"
    except (AttributeError, OSError, ValueError):
        return False



def prompt_schedule(prompt: str, steps: int = 20, hires_steps: int | None = None,
                    use_old_scheduling: bool = False) -> list[list]:
    """[[until_step, text], ...]: the prompt each sampling step uses, with A1111's prompt editing
    ([from:to:when], [to:when], [from::when]) and alternation ([a|b]) applied, as A1111's
    get_learned_conditioning_prompt_schedules gives it. With hires_steps: the hires pass's schedule
    (a `when` of 1.5 is half-way through it; use_old_scheduling: A1111's "Old prompt editing timelines")."""
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    steps = KNOBS["steps"].check(steps)
    if hires_steps is not None:
        hires_steps = KNOBS["steps"].check(hires_steps)
    return schedule.prompt_schedule(prompt, steps, hires_steps, bool(use_old_scheduling))


def image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
               generator_device, lang: str, notices: list[str], init_image=None, mask=None,
               denoising_strength=0.75, hires: dict | None = None, loras=None,
               schedule_type: str | None = "Automatic", use_old_scheduling: bool = False, controls=None,
               guess_mode: bool = False) -> ImageJob:
    """Checked parameters (unset ones take the model's defaults) as the first batch's job."""
    spec = task_spec(model, "image")  # a text or video model named here gets a message, not a missing default
    d = model_defaults(model)
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    negative_prompt = validate.text("negative_prompt", negative_prompt, PROMPT_CAP)
    sampler, schedule_type = _sampler(sampler, schedule_type, model, spec, d)
    if not _samplers.is_exact(sampler):
        notices.append(t("notice_sampler_approx", lang, sampler=sampler, cls=_samplers.class_name(sampler)))
    steps = KNOBS["steps"].check(d["steps"] if steps is None else steps)
    cfg_scale = KNOBS["cfg_scale"].check(d["cfg_scale"] if cfg_scale is None else cfg_scale)
    batch_size = KNOBS["batch_size"].check(batch_size)
    init = images.to_rgb(init_image) if init_image is not None else None
    if init is not None and width is None and height is None:
        width, height = init.size  # image to image keeps the source's size unless told otherwise
    width, height = validate.size(d["width"] if width is None else width, d["height"] if height is None else height,
                                  d["max_side"], lang, notices)
    first_seed = validate.seed(seed, lang, notices)
    if generator_device not in ("cpu", "cuda"):
        raise StudioError("out_of_range", name="generator_device", low="cpu", high="cuda", value=generator_device)
    seeds = [(first_seed + i) % (validate.MAX_SEED + 1) for i in range(batch_size)]
    job = ImageJob(prompt, negative_prompt, sampler, steps, cfg_scale, seeds, width, height, generator_device,
                   schedule_type)
    if init is not None:
        job.init_image = init.resize((width, height), Image.LANCZOS) if init.size != (width, height) else init
        job.strength = KNOBS["denoising_strength"].check(denoising_strength)
        if mask is not None:
            job.mask = images.to_mask(mask, (width, height))
    elif mask is not None:
        raise StudioError("mask_needs_image")
    job.hires = _hires(hires, job, d, lang, notices)
    job.loras = lora.resolve(_lora_pairs(loras))
    job.use_old_scheduling = validate.flag("use_old_scheduling", use_old_scheduling)
    job.controls, job.control_images = _control.resolve(controls, model, width, height, lang, notices)
    job.guess_mode = validate.flag("guess_mode", guess_mode)
    return job


def _sampler(sampler, schedule_type, model: str, spec: ModelSpec, d: dict) -> tuple[str, str]:
    """(base sampler, schedule type), checked. Unset sampler: the model's, with its schedule type unless one is
    given; an old joined name ("DPM++ 2M Karras") brings its own schedule type."""
    if not sampler:
        sampler = d["sampler"]
        if schedule_type in (None, "", _samplers.AUTOMATIC):
            schedule_type = d.get("schedule_type", _samplers.AUTOMATIC)
    lcm = _is_lcm(spec)
    base, schedule_type = _samplers.split(sampler, schedule_type) if isinstance(sampler, str) else (None, "")
    if base not in _samplers.SAMPLERS:
        raise StudioError("bad_sampler", sampler=str(sampler)[:60], model=model,
                          choices=", ".join(_samplers.names(spec.loader, lcm=lcm)))
    if base == _samplers.LCM and not lcm:
        raise StudioError("lcm_only", model=model)
    kinds = _samplers.schedule_types(base)
    if schedule_type not in kinds:
        raise StudioError("bad_schedule_type", schedule_type=str(schedule_type)[:60], sampler=base,
                          choices=", ".join(kinds))
    return base, schedule_type


def _lora_pairs(loras) -> list[tuple[str, float]]:
    """{name: weight}, [(name, weight)] or [name] (weight 1), each weight checked (-2..2)."""
    if not loras:
        return []
    items = loras.items() if isinstance(loras, dict) else [(x, 1.0) if isinstance(x, str) else x for x in loras]
    return [(name if isinstance(name, Sent) else str(name), KNOBS["lora_weight"].check(weight))
            for name, weight in items]


def _sent_loras(call: dict) -> dict:
    """Before a call goes to a worker: the learner's LoRAs resolved here, with their rights (a worker acts for
    nobody), and sent by content (studio.core.backend.Sent: kept by hash on the worker's machine)."""
    pairs = _lora_pairs(call.get("loras"))
    if pairs:
        call["loras"] = [(Sent.of(path, f"{name}.safetensors"), weight) for name, path, weight in lora.resolve(pairs)]
    return call


def _hires(hires: dict | None, job: ImageJob, d: dict, lang: str, notices: list[str]) -> Hires | None:
    """Hires fix settings, or None when the scale is 1 (off). Text to image only, as in the web UIs."""
    if not hires:
        return None
    scale = KNOBS["hires_scale"].check(hires.get("scale", 1))
    if scale == 1:
        return None
    if job.init_image is not None:
        notices.append(t("notice_hires_txt2img_only", lang))
        return None
    upscaler = hires.get("upscaler") or "Latent"
    if upscaler not in HIRES_UPSCALERS:
        raise StudioError("out_of_range", name="hires_upscaler", low=HIRES_UPSCALERS[0], high=HIRES_UPSCALERS[-1],
                          value=upscaler)
    steps = hires.get("steps") or job.steps  # 0 / None: as many as the first pass
    steps = KNOBS["hires_steps"].check(steps)
    strength = KNOBS["hires_strength"].check(hires.get("strength", 0.5))
    w, h = hires_size(job.width, job.height, scale)
    cap = d["max_side"]  # the model's largest side holds for the upscaled image too
    if max(w, h) > cap:
        raise StudioError("size_too_big", width=w, height=h, cap=cap, pixels=cap * cap)
    validate.pixels(w, h)
    return Hires(scale, upscaler, steps, strength)


def prepare(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size, init_image,
            mask, denoising_strength, hires_scale, hires_upscaler, hires_steps, hires_strength, loras,
            generator_device, lang: str, notices: list[str],
            schedule_type: str | None = "Automatic", use_old_scheduling: bool = False, controls=None,
            guess_mode: bool = False) -> tuple[ModelSpec, ImageJob]:
    """The one path from a call's values to its model and first checked job: generate_image runs the job and
    export_code writes it as a script, so the script makes what the page made."""
    spec = task_spec(model, "image")
    hires = dict(scale=hires_scale, upscaler=hires_upscaler, steps=hires_steps, strength=hires_strength)
    return spec, image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                           generator_device, lang, notices, init_image, mask, denoising_strength, hires, loras,
                           schedule_type, use_old_scheduling, controls, guess_mode)


@routed("image", finish=lambda result, call: _saved_here(result, call),
        send=lambda call: _control.sent(_sent_loras(call)))
def generate_image(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes",
                   sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                   seed: int = -1, width: int | None = None, height: int | None = None, batch_size: int = 1,
                   *, batch_count: int = 1, init_image=None, mask=None, denoising_strength: float = 0.75,
                   hires_scale: float = 1.0, hires_upscaler: str = "Latent", hires_steps: int | None = None,
                   hires_strength: float = 0.5, loras=None, generator_device: str = "cpu", save: bool = True,
                   lang: str | None = None, progress: Progress | None = None, preview: Preview | None = None,
                   preview_every: int = 5, stop: threading.Event | None = None,
                   schedule_type: str = "Automatic", use_old_scheduling: bool = False, controls=None,
                   guess_mode: bool = False) -> ImageResult:
    """Text to image; with init_image, image to image; with init_image and mask (white = repaint), inpainting.

    Image i of batch k uses seed + k * batch_size + i, so any image can be made alone. Unset sampler / steps /
    cfg_scale / width / height take the model's defaults (image to image: the source's size). sampler: A1111's
    names ("DPM++ 2M"; old joined ones as "DPM++ 2M Karras" too); schedule_type: Automatic (the sampler's own),
    Karras, Exponential, Beta, SGM Uniform or Simple, those the sampler takes (image_schedule_types). hires_scale > 1
    adds the hires fix: upscale (Latent or Lanczos), then image to image with hires_steps (None: steps) at
    hires_strength. loras: {name: weight} of LoRAs in the lora folders (studio.image.lora).
    Prompt editing ([from:to:when]) and alternation ([a|b]) change the prompt during the run, as in A1111
    (prompt_schedule); use_old_scheduling: A1111's "Old prompt editing timelines".
    controls: ControlNet units, each a ControlUnit or a dict of its fields ({"kind": "scribble", "image": drawing,
    "weight": 1.0, "start": 0.0, "end": 1.0, "model": None}); guess_mode: ControlNet's guess mode.
    preview(images, step, total) receives the decoded latents every preview_every steps;
    setting `stop` ends the run after the current step, keeping the images finished before it.
    """
    lang = caller_lang(lang)
    notices: list[str] = []
    spec, first = prepare(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                          init_image, mask, denoising_strength, hires_scale, hires_upscaler, hires_steps,
                          hires_strength, loras, generator_device, lang, notices, schedule_type, use_old_scheduling,
                          controls, guess_mode)
    batch_count = KNOBS["batch_count"].check(batch_count)
    preview_every = validate.number("preview_every", preview_every, 0, 150, int)
    if not first.prompt.strip():
        notices.append(t("notice_empty_prompt", lang))

    result = ImageResult([], [], [], notices)
    n = len(first.seeds)
    chunks = _chunks(model, first)
    for k in range(batch_count):
        if k:
            end_turn(stop)  # a batch count of 8 is 8 turns: whoever waits goes between two pictures
        job = replace(first, seeds=[(s + k * n) % (validate.MAX_SEED + 1) for s in first.seeds])
        on_step = functools.partial(_on_step, k=k, batch_count=batch_count, progress=progress, preview=preview,
                                    every=preview_every)
        unit = Offer(merge_key(model, job, chunks), len(job.seeds), _Batch(job, on_step, stop))
        try:
            done, flagged = _stoppable(merged, stop, unit, functools.partial(_run_batches, model, progress),
                                       first_batch=k == 0)
        except Interrupted:
            notices.append(t("notice_interrupted", lang, kept=len(result.images)))
            break
        if any(flagged):
            notices.append(t("notice_safety_flagged", lang, count=sum(flagged)))
        for image, s, bad in zip(done, job.seeds, flagged):
            _finish(result, safety.blank(image) if bad else image, s, job, spec, save, lang)
    return result


@dataclass
class _Batch:
    """One batch of a generate_image call, as a unit a learner's turn may run together with other learners'."""
    job: ImageJob
    on_step: Callable  # (pipe) -> the engine's step callback (previews decode with the loaded pipe)
    stop: threading.Event | None


def _run_batches(model: str, progress: Progress | None, offers: list[Offer]) -> list:
    """The offered batches as one device call on the model (and the safety checker, when on, in the same turn):
    each its own (images, flagged), or Interrupted when stopped."""
    batches = [o.payload for o in offers]
    controls = batches[0].job.controls

    def run(pipe, nets):
        _control.fits_loaded(nets, controls, pipe, model)
        return run_units(pipe, [Unit(b.job, b.on_step(pipe), b.stop) for b in batches], nets)
    try:
        with _control.leased(controls, progress) as nets:
            _control.make_maps([b.job for b in batches], progress)
            done = manager().run(model, lambda pipe: run(pipe, nets), progress=progress)
    except Interrupted as stopped:
        return [stopped] * len(batches)
    flags = iter(safety.check([image for images in done for image in images]))
    checked = [(images, [next(flags) for _ in images]) for images in done]
    # a learner who stopped while others' rows ran on: their rows are dropped (a lone run keeps what it finished)
    return [Interrupted() if len(batches) > 1 and _stopped(b.stop) else out for b, out in zip(batches, checked)]


def _stoppable(fn, *args, first_batch: bool):
    """fn(*args), a stop while waiting for a later batch's turn read as the stop it is (the pictures made so far
    are kept); before the first, the "stopped" message as for any job stopped in line."""
    try:
        return fn(*args)
    except StudioError as err:
        if err.key == "stopped" and not first_batch:
            raise Interrupted() from None
        raise


def _stopped(stop) -> bool:
    return stop is not None and stop.is_set()


def _chunks(model: str, job: ImageJob) -> int | None:
    """The prompts' encoded length in 75-token chunks (both sides of CFG, and every text prompt editing uses, are
    padded to the longest), for the merge key; None when the tokenizer is not on disk yet."""
    tokenizer = _tokenizer(model)
    if tokenizer is None:
        return None
    return max(weighting.token_count(tokenizer, text)["chunks"] for text in prompt_steps.texts(job))


def _on_step(pipe, *, k: int, batch_count: int, progress: Progress | None, preview: Preview | None, every: int):
    """Progress over the whole batch count, and the decoded latents every `every` steps (not the last)."""
    if progress is None and preview is None:
        return None
    started = time.perf_counter()

    def on_step(done: int, total: int, latents):
        if progress is not None:
            rate = done / max(1e-6, time.perf_counter() - started)
            progress((k * total + done) / (batch_count * total),
                     f"{k * total + done}/{batch_count * total} · {rate:.1f} it/s")
        if preview is not None and every and done % every == 0 and done < total:
            preview(decode_preview(pipe, latents), done, total)
    return on_step


def count_tokens(prompt: str, model: str = "mini-shapes") -> dict | None:
    """CLIP tokens of the prompt without its weighting syntax: {"tokens", "chunks", "limit"} (75 per chunk;
    longer prompts are encoded chunk by chunk, not cut). None when the model's tokenizer is not on disk yet."""
    tokenizer = _tokenizer(model)
    return None if tokenizer is None else weighting.token_count(tokenizer, validate.text("prompt", prompt, PROMPT_CAP))


def _tokenizer(model: str):
    spec = task_spec(model, "image")
    folder = spec.path / "tokenizer" if spec.path is not None else None
    if folder is None or not folder.is_dir():
        return None
    return _load_tokenizer(str(folder))


@functools.lru_cache(maxsize=8)
def _load_tokenizer(folder: str):
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(folder)


def export_code(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
                steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
                height: int | None = None, batch_size: int = 1, *, init_image=None, mask=None,
                denoising_strength: float = 0.75, hires_scale: float = 1.0, hires_upscaler: str = "Latent",
                hires_steps: int | None = None, hires_strength: float = 0.5, loras=None,
                generator_device: str = "cpu", lang: str | None = None, schedule_type: str = "Automatic",
                use_old_scheduling: bool = False, controls=None, guess_mode: bool = False) -> str:
    """查看代码: a runnable diffusers script that makes the same image(s) as generate_image with these values
    (image to image / inpainting: save the source as init.png and the mask as mask.png beside it)."""
    lang = caller_lang(lang)
    spec, job = prepare(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                        init_image, mask, denoising_strength, hires_scale, hires_upscaler, hires_steps,
                        hires_strength, loras, generator_device, lang, [], schedule_type, use_old_scheduling,
                        controls, guess_mode)
    return codegen.image_script(spec, _pipeline_class_name(spec), settings().hub, job,
                                uses_compel=functools.partial(_uses_compel, model),
                                spec_of=lambda net: task_spec(net, "controlnet"))


def _uses_compel(model: str, prompt: str, negative_prompt: str) -> bool:
    """What the engine will decide on the loaded pipeline (weighting syntax, or more than one 75-token chunk)."""
    tokenizer = _tokenizer(model)
    if tokenizer is None:
        return any(weighting.is_weighted(p) or weighting.has_break(p) for p in (prompt, negative_prompt))
    return any(weighting.needs_compel_for(tokenizer, p) for p in (prompt, negative_prompt))


def _pipeline_class_name(spec: ModelSpec) -> str:
    if spec.loader == "sd-single":
        from studio.image.loaders import is_sdxl_checkpoint
        return "StableDiffusionXLPipeline" if is_sdxl_checkpoint(spec.path) else "StableDiffusionPipeline"
    if spec.path is not None and (spec.path / "model_index.json").is_file():
        return json.loads((spec.path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return "StableDiffusionXLPipeline" if spec.key == "sdxl" else "StableDiffusionPipeline"


def _finish(result: ImageResult, image: Image.Image, seed: int, job: ImageJob, spec: ModelSpec,
            save: bool, lang: str) -> None:
    # A1111 1.9+: "Sampler: DPM++ 2M, Schedule type: Karras", no Schedule type when Automatic
    schedule_type = job.schedule_type if job.schedule_type != _samplers.AUTOMATIC else None
    params = dict(steps=job.steps, sampler=job.sampler, schedule_type=schedule_type, cfg_scale=job.cfg_scale,
                  seed=seed, size=f"{job.width}x{job.height}", model_hash=weights_hash(spec), model=spec.title,
                  use_old_scheduling=job.use_old_scheduling)  # written only when on, as A1111 does
    if job.init_image is not None:
        params["denoising_strength"] = job.strength
        params["Mask blur"] = 0 if job.mask is not None else None
    if job.hires is not None:
        params.update({"denoising_strength": job.hires.strength, "Hires upscale": _plain_number(job.hires.scale),
                       "Hires steps": job.hires.steps, "Hires upscaler": job.hires.upscaler})
    if job.loras:
        params["Lora hashes"] = lora.hashes(job.loras)
    if job.controls:
        params.update(_control.infotext_fields(job.controls, job.width, job.height, job.guess_mode))
    if job.generator_device != "cpu":
        params["RNG"] = "GPU"
    text = format_infotext(job.prompt, job.negative_prompt, params)
    image = aigc_label.maybe_stamp(image)  # the visible "AI生成" mark, when the operator switched it on
    result.images.append(with_parameters(image, text))
    result.seeds.append(seed)
    result.infotexts.append(text)
    if save:
        _save(result, result.images[-1], text, seed, lang)


def _save(result: ImageResult, image: Image.Image, text: str, seed: int, lang: str) -> None:
    try:
        result.paths.append(save_png(image, text, seed))
    except OSError as exc:  # a full disk must not cost the user the image they waited for
        note = t("notice_not_saved", lang, reason=exc.strerror or str(exc))
        if note not in result.notices:
            result.notices.append(note)


def _saved_here(result: ImageResult, call: dict) -> ImageResult:
    """A worker's pictures (studio.core.backend) saved by this process, as generate_image saves its own."""
    if call.get("save", True):
        for image, text, seed in zip(result.images, result.infotexts, result.seeds):
            _save(result, image, text, seed, caller_lang(call.get("lang")))
    return result


def _plain_number(value: float):
    return int(value) if float(value).is_integer() else value


def read_infotext(image) -> dict:
    """The generation parameters stored in an image (a PIL image or a file path): a PNG's `parameters` text, the EXIF
    comment A1111 writes into a JPEG or WebP; as studio fields."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        try:
            image = Image.open(image)
        except Exception:  # noqa: BLE001 - PIL raises many kinds for a crafted file
            raise StudioError("bad_png_text" if _is_png(image) else "not_an_image") from None
    if not isinstance(image, Image.Image):
        raise StudioError("not_an_image")
    try:
        if "parameters" not in (image.info or {}):
            images.check_pixels(image)  # a chunk after the pixels: reading it decodes them, so not a bomb's
        text = read_image_text(image)
    except StudioError:
        raise
    except Exception:  # noqa: BLE001 - truncated data, a text chunk over PIL's limit, bad compression, bad EXIF
        raise StudioError("bad_png_text") from None
    if not text or not isinstance(text, str):
        raise StudioError("no_infotext")
    try:
        return parse_infotext(text)
    except Exception:  # noqa: BLE001 - text that only looks like parameters (bad quoting, huge numbers)
        raise StudioError("bad_png_text") from None


def _is_png(path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(8) == b"\x89PNG\r\n\x1a\n"
    except (OSError, TypeError, ValueError):
        return False

