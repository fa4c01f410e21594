"""参数网格 (X/Y plot): axis values from text, and one labelled grid image of the cells.

The public call, `xy_plot`, makes one generate_image call per cell at one seed.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from studio.core import validate
from studio.core.calls import Progress, caller_lang
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.outputs import save_png
from studio.core.results import GridResult
from studio.core.scheduler import end_turn
from studio.image import samplers
from studio.image.api import generate_image


AXES = ("none", "sampler", "schedule_type", "steps", "cfg_scale", "seed", "size", "prompt_sr", "lora")
MAX_CELLS = 36
_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
          "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
          "/System/Library/Fonts/PingFang.ttc", "C:/Windows/Fonts/msyh.ttc")


def values(axis: str, text: str) -> list:
    """The values of one axis from comma-separated text ("20, 30, 40", "512x512, 768x512", "Euler a, DDIM");
    the kwargs they set are checked by generate_image, with its messages."""
    if axis not in AXES:
        raise StudioError("out_of_range", name="axis", low=AXES[0], high=AXES[-1], value=axis)
    if axis == "none":
        return [None]
    items = [v.strip() for v in re.split(r"[,，]", str(text or "")) if v.strip()]
    if not items:
        raise StudioError("grid_no_values", axis=axis)
    if axis == "size":
        for item in items:
            if not re.fullmatch(r"\d+\s*[xX×]\s*\d+", item):
                raise StudioError("grid_bad_size", value=item)
    if axis == "lora":
        for item in items:
            if not re.fullmatch(r"(?i)none|无|0|[\w.-]+(\s*:\s*-?\d+(\.\d+)?)?", item):
                raise StudioError("grid_bad_lora", value=item)
    return items


def cell_kwargs(axis: str, value, prompt: str) -> dict:
    """What one axis value changes in a generate_image call."""
    if axis == "none":
        return {}
    if axis == "size":
        w, h = re.split(r"\s*[xX×]\s*", value)
        return {"width": int(w), "height": int(h)}
    if axis == "prompt_sr":  # the first value is the text to find; each value replaces it (the web UIs' Prompt S/R)
        return {"prompt_sr": value}
    if axis == "lora":  # "none" (the base model), "name" (weight 1) or "name:weight": before / after at one seed
        if value.lower() in ("none", "无", "0"):
            return {"loras": None}
        name, _, weight = value.partition(":")
        return {"loras": [(name.strip(), float(weight) if weight.strip() else 1.0)]}
    return {axis: value}


def label(axis: str, value, lang: str = "zh") -> str:
    """The label of one axis value drawn into the grid picture, in `lang` (sampler names and sizes as typed)."""
    if axis == "none":
        return ""
    if axis == "lora" and str(value).strip().lower() in ("none", "无", "0"):
        return t("grid_label_no_lora", lang)
    if axis in ("cfg_scale", "steps", "seed", "lora"):
        return t(f"grid_label_{axis}", lang, value=value)
    return str(value).strip()


def fit_schedule(sampler, schedule_type: str) -> str:
    """The schedule type of a sampler axis cell: an old joined name's own ("DPM++ 2M Karras"), else the page's where
    the sampler takes it, else Automatic (Euler a beside DPM++ 2M with Karras on the page)."""
    base, own = samplers.split(sampler) if isinstance(sampler, str) else (None, samplers.AUTOMATIC)
    if base not in samplers.SAMPLERS:
        return schedule_type  # generate_image names the unknown sampler
    if own != samplers.AUTOMATIC or schedule_type not in samplers.schedule_types(base):
        return samplers.AUTOMATIC
    return schedule_type


def apply_sr(prompt: str, search: str, value: str) -> str:
    return prompt.replace(search, value)


def _font(size: int):
    for path in _FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def draw(cells: list[list[Image.Image]], x_labels: list[str], y_labels: list[str]) -> Image.Image:
    """Rows of cells with the X labels on top and the Y labels on the left; small cells are enlarged."""
    w = max(img.width for row in cells for img in row)
    h = max(img.height for row in cells for img in row)
    scale = max(1, 192 // max(w, h))  # a 64 px mini-model cell is hard to read at its own size
    w, h = w * scale, h * scale
    font = _font(max(14, w // 12))
    top = font.size * 3 if any(x_labels) else 0
    left = max((int(font.getlength(t)) for t in y_labels if t), default=0) + (font.size if any(y_labels) else 0)
    grid = Image.new("RGB", (left + w * len(cells[0]), top + h * len(cells)), "white")
    pen = ImageDraw.Draw(grid)
    for j, label in enumerate(x_labels):
        pen.text((left + j * w + w // 2, top // 2), label, fill="black", font=font, anchor="mm")
    for i, label in enumerate(y_labels):
        pen.text((left // 2, top + i * h + h // 2), label, fill="black", font=font, anchor="mm")
    for i, row in enumerate(cells):
        for j, img in enumerate(row):
            big = img.resize((img.width * scale, img.height * scale), Image.NEAREST if scale > 1 else Image.LANCZOS)
            grid.paste(big, (left + j * w + (w - big.width) // 2, top + i * h + (h - big.height) // 2))
    return grid


# ---- 参数网格 (X/Y plot): one generate_image call per cell, at one seed, as a labelled grid. ----
def xy_plot(prompt: str = "", negative_prompt: str = "", model: str = "mini-shapes", sampler: str | None = None,
            steps: int | None = None, cfg_scale: float | None = None, seed: int = -1, width: int | None = None,
            height: int | None = None, x_type: str = "cfg_scale", x_values: str = "3, 7, 12", y_type: str = "none",
            y_values: str = "", *, save: bool = True, lang: str | None = None, progress: Progress | None = None,
            stop: threading.Event | None = None, schedule_type: str = "Automatic") -> GridResult:
    """Every combination of the X and Y values (sampler, schedule_type, steps, cfg_scale, seed, size, prompt_sr or
    lora — "none, ink:0.5, ink:1" for before / after — comma separated), all at one seed (seed -1: one random seed
    for the whole grid) unless an axis is the seed. A sampler axis keeps schedule_type where a sampler takes it."""
    lang = caller_lang(lang)
    xs, ys = values(x_type, x_values), values(y_type, y_values)
    if len(xs) * len(ys) > MAX_CELLS:
        raise StudioError("grid_too_big", cells=len(xs) * len(ys), cap=MAX_CELLS)
    notices: list[str] = []
    fixed = validate.seed(seed, lang, notices)
    base = dict(prompt=prompt, negative_prompt=negative_prompt, model=model, sampler=sampler, steps=steps,
                cfg_scale=cfg_scale, seed=fixed, width=width, height=height, save=False, lang=lang,
                schedule_type=schedule_type)
    search = {"x": xs[0] if x_type == "prompt_sr" else None, "y": ys[0] if y_type == "prompt_sr" else None}
    rows, total, done = [], len(xs) * len(ys), 0
    for y in ys:
        row = []
        for x in xs:
            if done:
                end_turn(stop)  # a turn per cell: whoever waits goes between two cells
            if stop is not None and stop.is_set():
                raise StudioError("grid_stopped")
            kw = dict(base)
            for axis, value, name in ((y_type, y, "y"), (x_type, x, "x")):
                change = cell_kwargs(axis, value, kw["prompt"])
                if "prompt_sr" in change:
                    kw["prompt"] = apply_sr(kw["prompt"], search[name], change.pop("prompt_sr"))
                kw.update(change)
            if "sampler" in (x_type, y_type) and "schedule_type" not in (x_type, y_type):
                kw["schedule_type"] = fit_schedule(kw["sampler"], schedule_type)
            try:
                cell = generate_image(**kw, stop=stop)  # a stop ends the cell at its next step
            except StudioError as err:  # stopped while the cell waited for its turn
                raise StudioError("grid_stopped") if err.key == "stopped" else err from None
            if stop is not None and stop.is_set():
                raise StudioError("grid_stopped")  # no grid drawn, nothing saved
            row.append(cell.images[0])
            notices.extend(n for n in cell.notices if n not in notices)
            done += 1
            if progress is not None:
                progress(done / total, f"{done}/{total}")
        rows.append(row)
    image = draw(rows, [label(x_type, x, lang) for x in xs], [label(y_type, y, lang) for y in ys])
    text = f"{prompt}\nX/Y plot: X = {x_type}: {x_values}; Y = {y_type}: {y_values}; Seed: {fixed}"
    path = None
    if save:
        try:
            path = save_png(image, text, fixed)
        except OSError as exc:
            notices.append(t("notice_not_saved", lang, reason=exc.strerror or str(exc)))
    return GridResult(image, rows, fixed, notices, path)
