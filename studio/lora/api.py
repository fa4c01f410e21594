"""模型微调: train a LoRA on the chosen image model from a few captioned images."""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps, UnidentifiedImageError

from studio.core import files, validate
from studio.core.calls import caller_lang, task_spec
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.knobs import model_defaults
from studio.core.manager import manager
from studio.core.outputs import write_atomic
from studio.core.results import LoraResult
from studio.lora import train as lora_train
from studio.lora.knobs import KNOBS


MAX_IMAGES = 50
COURSE_MIN_IMAGES = 5
PIXEL_CAP = 4096 * 4096
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def train_lora(images, captions, model: str = "mini-shapes", *, name: str = "my-lora", rank: int = 8,
               alpha: float | None = None, learning_rate: float = 1e-4, steps: int = 100, batch_size: int = 1,
               resolution: int | None = None, seed: int = 0, targets=lora_train.COURSE_TARGETS,
               progress: Callable[[int, int, float], None] | None = None, stop: threading.Event | None = None,
               lang: str | None = None) -> LoraResult:
    """Train a LoRA (peft, on the UNet's attention projections) from `images` (PIL images or file paths) and
    `captions` (one per image, or one string for all, e.g. with a trigger word). Blocks; progress(step, total,
    loss) after each step; setting `stop` ends it early and keeps what was learnt. Saved as
    <output dir>/lora/<name>/pytorch_lora_weights.safetensors (diffusers' format), so 文生图 lists it."""
    lang = caller_lang(lang)
    spec = task_spec(model, "image")
    notices: list[str] = []
    size = validate.number("resolution", model_defaults(model)["width"] if resolution is None else resolution,
                           32, 1024, int) // 8 * 8
    pictures = _images(images, size, lang, notices)
    texts = _captions(captions, len(pictures))
    rank = KNOBS["rank"].check(rank)
    targets = tuple(targets or ())
    if not targets or not set(targets) <= set(lora_train.COURSE_TARGETS):
        raise StudioError("lora_bad_targets", choices=", ".join(lora_train.COURSE_TARGETS))
    job = lora_train.LoraJob(pictures, texts, rank, KNOBS["alpha"].check(rank if alpha is None else alpha),
                             tuple(targets), validate.number("learning_rate", learning_rate, 1e-6, 1e-2),
                             KNOBS["steps"].check(steps), KNOBS["batch_size"].check(batch_size),
                             validate.number("seed", seed, 0, validate.MAX_SEED, int))
    folder = _folder(name)
    state, run = manager().run(model, lambda pipe: lora_train.train(pipe, job, progress, stop))
    if not run.losses:
        return LoraResult(folder.name, None, [], 0, run.seconds, True, notices)
    path = manager().run(model, lambda pipe: lora_train.save(pipe, state, folder))
    record = {"model": spec.title, "images": len(pictures), "captions": texts, "rank": job.rank, "alpha": job.alpha,
              "targets": list(job.targets), "learning_rate": job.learning_rate, "steps": len(run.losses),
              "batch_size": job.batch_size, "resolution": size, "seed": job.seed, "seconds": round(run.seconds, 1),
              "losses": [round(x, 5) for x in run.losses]}
    write_atomic(folder / "training.json", lambda f: f.write(json.dumps(record, ensure_ascii=False, indent=1).encode()))
    if run.stopped:
        notices.append(t("notice_lora_stopped", lang, done=len(run.losses), total=job.steps))
    return LoraResult(folder.name, path, run.losses, len(run.losses), run.seconds, run.stopped, notices)


def _images(images, size: int, lang: str, notices: list[str]) -> list[Image.Image]:
    """Checked training images: readable, within the pixel cap, square-cropped and resized to `size`."""
    items = [images] if isinstance(images, (str, Image.Image)) else validate.items("images", images or [], 10**6)
    if not items:
        raise StudioError("lora_no_images")
    if len(items) > MAX_IMAGES:
        raise StudioError("lora_too_many_images", count=len(items), cap=MAX_IMAGES)
    if len(items) < COURSE_MIN_IMAGES:
        notices.append(t("notice_lora_few_images", lang, count=len(items), low=COURSE_MIN_IMAGES))
    out = []
    for i, item in enumerate(items, 1):
        try:
            image = item if isinstance(item, Image.Image) else Image.open(Path(item))
            if image.width * image.height > PIXEL_CAP:
                raise StudioError("lora_image_too_big", index=i, width=image.width, height=image.height)
            image = ImageOps.exif_transpose(image).convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError, TypeError, Image.DecompressionBombError):
            raise StudioError("lora_not_image", index=i) from None
        out.append(ImageOps.fit(image, (size, size), Image.LANCZOS))
    return out


def _captions(captions, count: int) -> list[str]:
    if isinstance(captions, str):
        captions = [captions] * count
    captions = [validate.text("caption", c or "", 1000).strip()
                for c in validate.items("captions", captions or [], 10**6)]
    if len(captions) != count:
        raise StudioError("lora_captions_mismatch", images=count, captions=len(captions))
    if not all(captions):
        raise StudioError("lora_empty_caption", index=captions.index("") + 1)
    return captions


def _folder(name: str) -> Path:
    """<output dir>/lora/<name>, numbered when the name is taken (a LoRA is never overwritten)."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise StudioError("lora_bad_name", name=name)
    root = Path(settings().output_dir).expanduser().resolve() / "lora"
    folder, n = root / name, 2
    while folder.exists():
        folder, n = root / f"{name}-{n}", n + 1
    folder.mkdir(parents=True)
    files.claim_lora(folder)  # its maker's until the operator shares it (studio.core.files)
    return folder


def lora_parameters(model: str = "mini-shapes", rank: int = 8) -> list[dict]:
    """原理: for each attention projection shape in the model's UNet, d x k of W0 vs r x (d + k) of B and A."""
    task_spec(model, "image")
    rank = KNOBS["rank"].check(rank)

    def shapes(pipe):
        seen: dict[tuple[int, int], int] = {}
        for name, module in pipe.unet.named_modules():
            if name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v") or name.endswith("to_out.0"):
                key = (module.in_features, module.out_features)
                seen[key] = seen.get(key, 0) + 1
        return seen

    rows = []
    for (d, k), count in sorted(manager().run(model, shapes).items()):
        full, low = lora_train.parameter_count(d, k, rank)
        rows.append({"in": d, "out": k, "layers": count, "full": full, "lora": low, "share": low / full})
    return rows


def inkwash_dataset(count: int = 12, seed: int = 0) -> tuple[list, list[str]]:
    """The offline demo: `count` mini-shapes scenes drawn as 水墨 ink wash, with their captions (train a style
    LoRA on mini-shapes with them, then the usual prompts come out in ink wash)."""
    from studio.lora import inkwash
    return inkwash.dataset(validate.number("count", count, 1, MAX_IMAGES, int), seed=validate.number(
        "seed", seed, 0, validate.MAX_SEED, int))
