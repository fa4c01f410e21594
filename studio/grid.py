"""参数网格 (X/Y plot): axis values from text, and one labelled grid image of the cells."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .errors import StudioError
from .i18n import t

AXES = ("none", "sampler", "steps", "cfg_scale", "seed", "size", "prompt_sr", "lora")
MAX_CELLS = 36
_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
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
