"""The public Python API: every control on the studio's pages is a parameter here.

    from studio import api
    result = api.generate_image("a red circle", model="mini-shapes", seed=42)
    result.images[0].save("circle.png")

The Gradio events call these functions and carry the same names (`api_name`), so a
`gradio_client` user gets the same calls. Errors a user can cause raise `StudioError`, whose
message reads in Chinese or English (`err.message("en")`); `lang=` picks the language of notices.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable

from PIL import Image

from . import codegen, hub, validate
from .config import settings
from .engines.image import ImageJob, txt2img
from .errors import StudioError
from .i18n import t
from .infotext import format_infotext, parse_infotext, read_png_text
from .manager import manager
from .models import ModelSpec, detect, resolve, weights_hash
from .outputs import save_png, with_parameters
from .registry import CARDS, cards
from . import samplers as _samplers
from .results import ImageResult, TextResult, VideoResult
from .engines import text as _text
from .engines import video as _video
from .outputs import save_video

__all__ = ["StudioError", "ImageResult", "list_models", "manager_status", "load", "unload", "unload_all",
           "download", "delete", "local_models", "model_defaults", "generate_image", "export_code", "read_infotext", "image_samplers",
           "TextResult", "generate_text", "token_distribution", "VideoResult", "generate_video"]

Progress = Callable[[float, str], None]
PROMPT_CAP = 4000
MAX_BATCH = 8
MAX_BATCH_COUNT = 16


def _lang(lang: str | None) -> str:
    return lang if lang in ("zh", "en") else settings().lang


# -- models -------------------------------------------------------------------------------------
def list_models(task: str | None = None, lang: str | None = None) -> list[dict]:
    """Every known model: key, task, title, approx size, sources, licence, whether it is on disk / loaded."""
    lang = _lang(lang)
    rows = []
    for card in cards(task):
        path = hub.find_local(card)
        rows.append(dict(key=card.key, task=card.task, title=card.title[lang], approx_bytes=card.approx_bytes,
                         modelscope_id=card.modelscope_id, hf_id=card.hf_id, licence=card.licence,
                         builtin=card.builtin, on_disk=path is not None, path=str(path) if path else None,
                         disk_bytes=hub.folder_bytes(path) if path and not card.builtin else None,
                         loaded=manager().is_loaded(card.key)))
    return rows


def manager_status() -> dict:
    """What is loaded (device, bytes, load time, last use), the memory budgets and disk usage."""
    status = manager().status()
    status["disk"] = {str(d): hub.folder_bytes(d) for d in hub.model_dirs()}
    status["hub"] = settings().hub
    return status


def load(key: str, progress: Progress | None = None) -> dict:
    """Load a model now (downloading it first if needed); returns its status row."""
    manager().get(key, progress=progress)
    spec_key = resolve(key).key
    return next(row for row in manager().status()["loaded"] if row["key"] == spec_key)


def unload(key: str) -> bool:
    """Drop a model from memory; False when it was not loaded."""
    return manager().unload(key)


def unload_all() -> int:
    """Drop every model not in use; returns how many were dropped."""
    return manager().unload_all()


def download(key: str, progress: Progress | None = None) -> str:
    """Download a registry model into the first model folder; returns the folder."""
    card = _card(key)
    existing = hub.find_local(card)
    return str(existing) if existing else str(hub.download(card, progress))


def delete(key: str) -> str:
    """Delete a downloaded model's folder (unloading it first)."""
    card = _card(key)
    manager().unload(key)
    return str(hub.delete(card))


def local_models(task: str | None = None) -> list[str]:
    """Folders and checkpoint files in the model folders that the studio can load (not registry downloads)."""
    found = []
    for d in hub.model_dirs():
        if not d.is_dir():
            continue
        for entry in sorted(d.iterdir()):
            if entry.name in CARDS or entry.name.startswith("."):
                continue
            try:
                kind, _loader = detect(entry)
            except StudioError:
                continue
            if task is None or kind == task:
                found.append(entry.name)
    return found


_TASK_DEFAULTS = {
    "image": dict(width=512, height=512, steps=25, cfg_scale=7.0, sampler=_samplers.DEFAULT, max_side=1024),
    "text": dict(temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=256, repetition_penalty=1.0),
    "video": dict(width=832, height=480, num_frames=33, fps=16, steps=30, cfg_scale=5.0, max_side=1280,
                  max_frames=81, negative_prompt="low quality, watermark, glitch"),
}


def model_defaults(model: str) -> dict:
    """The tab defaults and limits of a model (image: size, steps, CFG, sampler, largest side; text: sampling)."""
    spec = resolve(model)
    base = dict(_TASK_DEFAULTS.get(spec.task, {}))
    if spec.task == "image" and spec.path is not None and not spec.card:
        base.update(_folder_image_defaults(spec))
    return {**base, **spec.defaults()}


def _folder_image_defaults(spec: ModelSpec) -> dict:
    """A local pipeline folder's native size, from its own configs (UNet sample size x VAE scale)."""
    try:
        unet = json.loads((spec.path / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((spec.path / "vae" / "config.json").read_text(encoding="utf-8"))
        native = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"width": native, "height": native, "max_side": max(1024, 2 * native)}


def _card(key: str):
    if key not in CARDS:
        raise StudioError("unknown_model", model=key, choices=", ".join(CARDS),
                          dirs=", ".join(str(d) for d in hub.model_dirs()))
    return CARDS[key]


# -- text to image ------------------------------------------------------------------------------
def image_samplers(model: str | None = None) -> list[str]:
    """Sampler names that apply to `model` (all SD samplers for the Stable Diffusion family)."""
    return _samplers.names()


def _spec(model: str, task: str) -> ModelSpec:
    """The model a tab's call names, refused with a message when it is for another task."""
    spec = resolve(model)
    if spec.task != task:
        raise StudioError("wrong_task", model=model, got=spec.task, want=task)
    return spec


def _image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
               generator_device, lang: str, notices: list[str]) -> ImageJob:
    """Checked text-to-image parameters (unset ones take the model's defaults) as the first batch's job."""
    d = model_defaults(model)
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    negative_prompt = validate.text("negative_prompt", negative_prompt, PROMPT_CAP)
    sampler = sampler or d["sampler"]
    if sampler not in _samplers.SAMPLERS:
        raise StudioError("bad_sampler", sampler=sampler, model=model, choices=", ".join(_samplers.names()))
    if not _samplers.is_exact(sampler):
        notices.append(t("notice_sampler_approx", lang, sampler=sampler, cls=_samplers.class_name(sampler)))
    steps = validate.number("steps", d["steps"] if steps is None else steps, 1, 150, int)
    cfg_scale = validate.number("cfg_scale", d["cfg_scale"] if cfg_scale is None else cfg_scale, 1, 30)
    batch_size = validate.number("batch_size", batch_size, 1, MAX_BATCH, int)
    width, height = validate.size(d["width"] if width is None else width, d["height"] if height is None else height,
                                  d["max_side"], lang, notices)
    first_seed = validate.seed(seed, lang, notices)
    if generator_device not in ("cpu", "cuda"):
        raise StudioError("out_of_range", name="generator_device", low="cpu", high="cuda", value=generator_device)
    seeds = [(first_seed + i) % (validate.MAX_SEED + 1) for i in range(batch_size)]
    return ImageJob(prompt, negative_prompt, sampler, steps, cfg_scale, seeds, width, height, generator_device)


def generate_image(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes",
                   sampler: str | None = None, steps: int | None = None, cfg_scale: float | None = None,
                   seed: int = -1, width: int | None = None, height: int | None = None, batch_size: int = 1,
                   *, batch_count: int = 1, generator_device: str = "cpu", save: bool = True,
                   lang: str | None = None, progress: Progress | None = None) -> ImageResult:
    """Text to image. Image i of batch k uses seed + k * batch_size + i, so any image can be made alone.

    Unset sampler / steps / cfg_scale / width / height take the model's defaults.
    """
    lang = _lang(lang)
    spec = _spec(model, "image")
    notices: list[str] = []
    first = _image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                       generator_device, lang, notices)
    batch_count = validate.number("batch_count", batch_count, 1, MAX_BATCH_COUNT, int)
    if not first.prompt.strip():
        notices.append(t("notice_empty_prompt", lang))

    result = ImageResult([], [], [], notices)
    steps, n = first.steps, len(first.seeds)
    total = steps * batch_count
    for k in range(batch_count):
        seeds = [(s + k * n) % (validate.MAX_SEED + 1) for s in first.seeds]
        job = replace(first, seeds=seeds)
        on_step = (lambda done, _n, k=k: progress((k * steps + done) / total, f"{k * steps + done}/{total}")) \
            if progress else None
        images = manager().run(model, lambda pipe: txt2img(pipe, job, on_step), progress=progress)
        for image, s in zip(images, seeds):
            _finish(result, image, s, job, spec, save, lang)
    return result


def export_code(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
                steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
                height: int | None = None, batch_size: int = 1, *, generator_device: str = "cpu",
                lang: str | None = None) -> str:
    """查看代码: a runnable diffusers script that makes the same image(s) as generate_image with these values."""
    lang = _lang(lang)
    spec = _spec(model, "image")
    job = _image_job(prompt, negative_prompt, model, sampler, steps, cfg_scale, seed, width, height, batch_size,
                     generator_device, lang, [])
    return codegen.image_script(spec, _pipeline_class_name(spec), settings().hub, job)


def _pipeline_class_name(spec: ModelSpec) -> str:
    if spec.loader == "sd-single":
        from .loaders import is_sdxl_checkpoint
        return "StableDiffusionXLPipeline" if is_sdxl_checkpoint(spec.path) else "StableDiffusionPipeline"
    if spec.path is not None and (spec.path / "model_index.json").is_file():
        return json.loads((spec.path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return "StableDiffusionXLPipeline" if spec.key == "sdxl" else "StableDiffusionPipeline"


def _finish(result: ImageResult, image: Image.Image, seed: int, job: ImageJob, spec: ModelSpec,
            save: bool, lang: str) -> None:
    params = dict(steps=job.steps, sampler=job.sampler, cfg_scale=job.cfg_scale, seed=seed,
                  size=f"{job.width}x{job.height}", model_hash=weights_hash(spec), model=spec.title)
    if job.generator_device != "cpu":
        params["RNG"] = "GPU"
    text = format_infotext(job.prompt, job.negative_prompt, params)
    result.images.append(with_parameters(image, text))
    result.seeds.append(seed)
    result.infotexts.append(text)
    if save:
        try:
            result.paths.append(save_png(image, text, seed))
        except OSError as exc:  # a full disk must not cost the user the image they waited for
            note = t("notice_not_saved", lang, reason=exc.strerror or str(exc))
            if note not in result.notices:
                result.notices.append(note)


def read_infotext(image) -> dict:
    """The generation parameters stored in a PNG (a PIL image or a file path), as studio fields."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        try:
            image = Image.open(image)
        except (OSError, ValueError) as exc:
            raise StudioError("not_an_image") from exc
    if not isinstance(image, Image.Image):
        raise StudioError("not_an_image")
    text = read_png_text(image)
    if not text:
        raise StudioError("no_infotext")
    return parse_infotext(text)


# -- text ---------------------------------------------------------------------------------------
MAX_NEW_TOKENS = 2048
TEXT_PROMPT_CAP = 200_000  # characters; longer input than the context window is cut from the left, with a notice
MAX_TOP_TOKENS = 50


def _sampling(temperature, top_k, top_p, repetition_penalty, d: dict) -> tuple[float, int, float, float]:
    """Checked sampling knobs; None takes the model's default."""
    pick = lambda value, key: d[key] if value is None else value  # noqa: E731
    return (validate.number("temperature", pick(temperature, "temperature"), 0, 2),
            validate.number("top_k", pick(top_k, "top_k"), 0, 1000, int),
            validate.number("top_p", pick(top_p, "top_p"), 0.01, 1),
            validate.number("repetition_penalty", pick(repetition_penalty, "repetition_penalty"), 1, 2))


def _prompt_ids(tm, prompt: str, max_new_tokens: int, lang: str, notices: list[str]):
    """Token ids of the prompt, cut from the left (with a notice) to leave room for the new tokens."""
    window = _text.context_window(tm)
    if max_new_tokens >= window:
        notices.append(t("notice_new_tokens_clamped", lang, asked=max_new_tokens, new=window // 2, window=window))
        max_new_tokens = window // 2
    ids, dropped = _text.fit_context(tm, _text.encode(tm, prompt), max_new_tokens)
    if dropped:
        notices.append(t("notice_prompt_truncated", lang, dropped=dropped, window=window))
    return ids, max_new_tokens


def _text_prompt(prompt) -> str:
    prompt = validate.text("prompt", prompt, TEXT_PROMPT_CAP)
    if not prompt.strip():
        raise StudioError("empty_prompt")
    return prompt


def generate_text(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                  top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                  repetition_penalty: float | None = None, seed: int = -1, *, lang: str | None = None) -> TextResult:
    """Continue `prompt` (base models) or answer it (instruct models, through their chat template).

    temperature 0 is greedy decoding; top_k 0 and top_p 1 switch those filters off. Unset knobs take the
    model's defaults. The same seed with the same knobs gives the same text.
    """
    lang = _lang(lang)
    _spec(model, "text")
    d = model_defaults(model)
    notices: list[str] = []
    prompt = _text_prompt(prompt)
    temperature, top_k, top_p, repetition_penalty = _sampling(temperature, top_k, top_p, repetition_penalty, d)
    max_new_tokens = validate.number("max_new_tokens", d["max_new_tokens"] if max_new_tokens is None else max_new_tokens,
                                     1, MAX_NEW_TOKENS, int)
    chosen_seed = validate.seed(seed, lang, notices)

    def run(tm):
        ids, new = _prompt_ids(tm, prompt, max_new_tokens, lang, notices)
        job = _text.TextJob(temperature, top_k, top_p, new, repetition_penalty, chosen_seed)
        return _text.generate(tm, ids, job), _text.uses_chat(tm.tokenizer)

    text, chat = manager().run(model, run)
    return TextResult(text, chosen_seed, notices, chat)


def token_distribution(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                       top_k: int | None = None, top_p: float | None = None, n: int = 20, *,
                       repetition_penalty: float | None = None, lang: str | None = None) -> list[dict]:
    """The n most likely next tokens after `prompt`, from the model's real logits: probability before and after
    temperature, the cumulative sum, whether top-k / top-p keep each token, and the final probability."""
    lang = _lang(lang)
    _spec(model, "text")
    d = model_defaults(model)
    prompt = _text_prompt(prompt)
    temperature, top_k, top_p, repetition_penalty = _sampling(temperature, top_k, top_p, repetition_penalty, d)
    n = validate.number("n", n, 1, MAX_TOP_TOKENS, int)

    def run(tm):
        ids, _new = _prompt_ids(tm, prompt, 1, lang, [])
        return _text.distribution(tm, ids, temperature, top_k, top_p, repetition_penalty, n)

    return manager().run(model, run)


# -- text to video ------------------------------------------------------------------------------
def generate_video(prompt: str = "", negative_prompt: str | None = None, model: str = "mini-motion",
                   steps: int | None = None, cfg_scale: float | None = None, seed: int = -1,
                   num_frames: int | None = None, fps: int | None = None, width: int | None = None,
                   height: int | None = None, *, flow_shift: float | None = None, save: bool = True,
                   lang: str | None = None, progress: Progress | None = None) -> VideoResult:
    """Text to video. Frames are rounded to the model's 4k+1 rule and sizes to multiples of 16, with notices;
    unset values take the model's defaults (negative_prompt None: the course's "low quality, watermark, glitch")."""
    lang = _lang(lang)
    spec = _spec(model, "video")
    d = model_defaults(model)
    notices: list[str] = []
    prompt = validate.text("prompt", prompt, PROMPT_CAP)
    negative_prompt = validate.text("negative_prompt", d["negative_prompt"] if negative_prompt is None
                                    else negative_prompt, PROMPT_CAP)
    steps = validate.number("steps", d["steps"] if steps is None else steps, 1, 150, int)
    cfg_scale = validate.number("cfg_scale", d["cfg_scale"] if cfg_scale is None else cfg_scale, 1, 30)
    fps = validate.number("fps", d["fps"] if fps is None else fps, 1, 60, int)
    if flow_shift is not None:
        flow_shift = validate.number("flow_shift", flow_shift, 0.5, 20)
    width, height = validate.size(d["width"] if width is None else width, d["height"] if height is None else height,
                                  d["max_side"], lang, notices, multiple=16)
    frames = validate.frames(d["num_frames"] if num_frames is None else num_frames, 4, d["max_frames"], lang, notices)
    chosen_seed = validate.seed(seed, lang, notices)
    if not prompt.strip():
        notices.append(t("notice_empty_prompt_video", lang))
    job = _video.VideoJob(prompt, negative_prompt, steps, cfg_scale, chosen_seed, frames, width, height, flow_shift)
    on_step = (lambda done, total: progress(done / total, f"{done}/{total}")) if progress else None
    video = manager().run(model, lambda pipe: _video.txt2video(pipe, job, on_step), progress=progress)
    params = dict(prompt=prompt, negative_prompt=negative_prompt, model=spec.title, steps=steps, cfg_scale=cfg_scale,
                  seed=chosen_seed, num_frames=frames, fps=fps, width=width, height=height, flow_shift=flow_shift)
    path = None
    if save:
        try:
            path = save_video(video, fps, params, chosen_seed)
        except OSError as exc:
            notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return VideoResult(path, [Image.fromarray(f) for f in video], fps, chosen_seed, notices)
