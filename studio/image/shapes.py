"""The world of the mini-shapes model: one shape on a plain background.

Holds the attribute vocabulary (zh / en), a deterministic renderer, the caption writer used for
training, a prompt parser, and an image analyser that reads the attributes back from a picture.
Training (scripts/mini_shapes), evaluation and the studio's alignment score all use this one module.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


SIZE = 64  # native resolution of the model

SHAPES = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "五角星"}
COLOURS = {  # name -> (zh, RGB)
    "red": ("红色", (220, 30, 30)), "orange": ("橙色", (245, 140, 20)), "yellow": ("黄色", (245, 225, 40)),
    "green": ("绿色", (40, 170, 60)), "blue": ("蓝色", (40, 80, 220)), "purple": ("紫色", (140, 50, 180)),
    "white": ("白色", (245, 245, 245)), "black": ("黑色", (20, 20, 20)),
}
SIZES = {"big": "大", "small": "小"}
POSITIONS = {"left": "左边", "center": "中间", "right": "右边"}
# Shape-colour pairs never shown in training: the evaluation checks that the model composes them.
HELD_OUT = {("star", "green"), ("circle", "purple"), ("triangle", "white"), ("square", "orange")}

_SIDE = {"big": 0.5, "small": 0.28}  # shape side as a fraction of the image width (small >= 1/4)
_X = {"left": 0.27, "center": 0.5, "right": 0.73}


@dataclass(frozen=True)
class Spec:
    shape: str
    colour: str
    background: str
    size: str
    position: str
    dx: float = 0.0  # small jitter, in fractions of the width
    dy: float = 0.0


def random_spec(rng: random.Random, allow_held_out: bool = False) -> Spec:
    while True:
        shape, colour = rng.choice(list(SHAPES)), rng.choice(list(COLOURS))
        if allow_held_out or (shape, colour) not in HELD_OUT:
            break
    background = rng.choice([c for c in COLOURS if c != colour])
    return Spec(shape, colour, background, rng.choice(list(SIZES)), rng.choice(list(POSITIONS)),
                rng.uniform(-0.04, 0.04), rng.uniform(-0.08, 0.08))


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        angle = -np.pi / 2 + i * np.pi / 5
        points.append((cx + radius * np.cos(angle), cy + radius * np.sin(angle)))
    return points


def outline(shape: str, cx: float, cy: float, side: float) -> list[tuple[float, float]] | tuple:
    """Polygon points (or an ellipse box for circles) of a shape centred at (cx, cy) with the given side."""
    h = side / 2
    if shape == "circle":
        return (cx - h, cy - h, cx + h, cy + h)
    if shape == "square":
        h *= 0.9  # a square looks bigger than a circle of the same width
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx, cy - h), (cx + h, cy + h * 0.8), (cx - h, cy + h * 0.8)]
    return _star(cx, cy + h * 0.08, h * 1.05)


def render(spec: Spec, size: int = SIZE, supersample: int = 4) -> Image.Image:
    """The clean picture of a spec (anti-aliased by drawing large and scaling down)."""
    big = size * supersample
    image = Image.new("RGB", (big, big), COLOURS[spec.background][1])
    draw = ImageDraw.Draw(image)
    cx, cy = (_X[spec.position] + spec.dx) * big, (0.5 + spec.dy) * big
    shape = outline(spec.shape, cx, cy, _SIDE[spec.size] * big)
    fill = COLOURS[spec.colour][1]
    (draw.ellipse if spec.shape == "circle" else draw.polygon)(shape, fill=fill)
    return image.resize((size, size), Image.Resampling.LANCZOS)


# -- captions ------------------------------------------------------------------------------------
def caption(spec: Spec, rng: random.Random, drop: float = 0.3) -> str:
    """A zh or en caption of the spec; each attribute is left out with probability `drop` (then it is random)."""
    keep = {k: rng.random() >= drop for k in ("shape", "colour", "background", "size", "position")}
    return _caption_zh(spec, keep) if rng.random() < 0.5 else _caption_en(spec, keep)


def describe(attributes: dict[str, str], lang: str) -> str:
    """A caption naming exactly `attributes` (a parse_prompt-style dict), in the training captions' wording."""
    spec = Spec(attributes.get("shape", "circle"), attributes.get("colour", "red"),
                attributes.get("background", "blue"), attributes.get("size", "big"),
                attributes.get("position", "center"))
    keep = {k: k in attributes for k in ("shape", "colour", "background", "size", "position")}
    return _caption_zh(spec, keep) if lang == "zh" else _caption_en(spec, keep)


def _caption_zh(spec: Spec, keep: dict) -> str:
    size = SIZES[spec.size] if keep["size"] else ""
    colour = COLOURS[spec.colour][0] if keep["colour"] else ""
    shape = SHAPES[spec.shape] if keep["shape"] else "图形"
    text = f"一个{size}{colour}{shape}" if size or not colour else f"{colour}的{shape}"
    if keep["background"]:
        text = f"{COLOURS[spec.background][0]}背景上的{text}"
    if keep["position"]:
        text += f"，在{POSITIONS[spec.position]}"
    return text


def _caption_en(spec: Spec, keep: dict) -> str:
    words = [w for w, k in ((spec.size, keep["size"]), (spec.colour, keep["colour"])) if k]
    noun = spec.shape if keep["shape"] else "shape"
    text = " ".join(["a"] + words + [noun])
    if keep["position"]:
        text += " on the " + spec.position if spec.position != "center" else " in the center"
    if keep["background"]:
        text += f", {spec.background} background"
    return text


def parse_prompt(prompt: str) -> dict[str, str]:
    """The attributes a prompt names (zh or en words); unknown words are ignored."""
    text = prompt.lower()
    found: dict[str, str] = {}
    bg_zh = {COLOURS[c][0] + "背景": c for c in COLOURS} | {COLOURS[c][0][0] + "背景": c for c in COLOURS}
    for word, colour in bg_zh.items():
        if word in text:
            found["background"] = colour
            text = text.replace(word, " ")
    for colour in COLOURS:
        for pattern in (f"{colour} background", f"background {colour}", f"{colour} backdrop"):
            if pattern in text:
                found["background"] = colour
                text = text.replace(pattern, " ")
    tables = {"shape": {**{k: k for k in SHAPES}, **{v: k for k, v in SHAPES.items()}, "星形": "star",
                        "圆": "circle", "方形": "square"},
              "colour": {**{k: k for k in COLOURS}, **{v[0]: k for k, v in COLOURS.items()}},
              "size": {"big": "big", "large": "big", "small": "small", "大": "big", "小": "small"},
              "position": {**{k: k for k in POSITIONS}, **{v: k for k, v in POSITIONS.items()}, "middle": "center",
                           "centre": "center"}}
    for attribute, table in tables.items():
        for word in sorted(table, key=len, reverse=True):  # longest first: 五角星 before 星
            if word in text:
                found[attribute] = table[word]
                break
    return found


# -- analysis ------------------------------------------------------------------------------------
_PALETTE = np.array([rgb for _zh, rgb in COLOURS.values()], dtype=np.float64)


def nearest_colour(rgb) -> str:
    distances = ((_PALETTE - np.asarray(rgb, dtype=np.float64)) ** 2).sum(axis=1)
    return list(COLOURS)[int(distances.argmin())]


# Template fitting. A template placed by the mask's bounding box alone read a generated square with slightly
# bowed sides, or 10% taller than wide, as a circle: with both templates filling the box, a square only won while
# it covered 89% of its box. So each template is also tried a little smaller or larger, stretched by up to 10% and
# shifted by a pixel, and scores its best fit; a shape that is clearly something else still fits that best.
_SCALES = np.array([0.85, 0.92, 1.0, 1.08])
_STRETCHES = np.array([0.9, 1.0, 1.1])
_SHIFTS = np.array([-1.0, 0.0, 1.0])
_UNIT = 256  # resolution of the templates
_SUB = 2  # sub-samples per pixel and axis when a template is placed (anti-aliasing, as in the renderer)


@functools.cache
def _template(shape: str) -> tuple[np.ndarray, float]:
    """The shape drawn large and cropped to its outline: a [_UNIT, _UNIT] mask, and its own width / height."""
    big = Image.new("L", (2 * _UNIT, 2 * _UNIT), 0)
    draw = ImageDraw.Draw(big)
    (draw.ellipse if shape == "circle" else draw.polygon)(outline(shape, _UNIT, _UNIT, 1.5 * _UNIT), fill=255)
    x0, y0, x1, y1 = big.getbbox()
    mask = np.asarray(big.crop((x0, y0, x1, y1)).resize((_UNIT, _UNIT), Image.Resampling.BILINEAR)) > 127
    return mask, (x1 - x0) / (y1 - y0)


def _best_fit(shape: str, mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The best intersection-over-union of the shape's template with the mask, over the placements above."""
    template, aspect = _template(shape)
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)  # the template keeps its own aspect; its longer side spans the box's
    width, height = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
    scale, stretch, dx, dy = (a.ravel() for a in np.meshgrid(_SCALES, _STRETCHES, _SHIFTS, _SHIFTS, indexing="ij"))
    w, h = width * scale * stretch, height * scale / stretch
    left, top = (x0 + x1) / 2 + dx - w / 2, (y0 + y1) / 2 + dy - h / 2
    # Only the pixels that the box or some placement touches can count, so only they are sampled.
    c0, r0 = (int(max(0, np.floor(min(a, b.min())))) for a, b in ((x0, left), (y0, top)))
    c1, r1 = (int(min(SIZE, np.ceil(max(a, b.max())))) for a, b in ((x1, left + w), (y1, top + h)))
    window = mask[r0:r1, c0:c1]
    u = ((c0 + (np.arange((c1 - c0) * _SUB) + 0.5) / _SUB) - left[:, None]) / w[:, None]  # [placements, cols]
    v = ((r0 + (np.arange((r1 - r0) * _SUB) + 0.5) / _SUB) - top[:, None]) / h[:, None]
    cols, rows = (np.clip(a * _UNIT, 0, _UNIT - 1).astype(int) for a in (u, v))
    inside = ((u >= 0) & (u < 1))[:, None, :] & ((v >= 0) & (v < 1))[:, :, None]
    covered = template[rows[:, :, None], cols[:, None, :]] & inside  # [placements, rows, cols] sub-samples
    placed = covered.reshape(-1, r1 - r0, _SUB, c1 - c0, _SUB).mean(axis=(2, 4)) >= 0.5
    union = (placed | window).sum(axis=(1, 2))
    return float(((placed & window).sum(axis=(1, 2)) / np.maximum(union, 1)).max())


@dataclass(frozen=True)
class Analysis:
    background: str
    colour: str | None
    shape: str | None
    size: str | None
    position: str | None
    iou: float  # how well the best shape template fits the mask
    fill: float  # the share of its bounding box the shape covers: a square 1, a circle pi/4, a star about 0.4

    def as_dict(self) -> dict[str, str | None]:
        return {"background": self.background, "colour": self.colour, "shape": self.shape, "size": self.size,
                "position": self.position}


def _largest_piece(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of a boolean mask (a flood fill; the mask is 64 x 64)."""
    seen = np.zeros_like(mask)
    best: list[tuple[int, int]] = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        piece, stack = [], [start]
        while stack:
            y, x = stack.pop()
            piece.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        if len(piece) > len(best):
            best = piece
    out = np.zeros_like(mask)
    if best:
        out[tuple(np.array(best).T)] = True
    return out


def analyse(image: Image.Image) -> Analysis:
    """Read background colour (border), shape colour, shape class (template IoU), size and position."""
    pixels = np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    bg_rgb = np.median(border, axis=0)
    background = nearest_colour(bg_rgb)
    distance = np.sqrt(((pixels - bg_rgb) ** 2).sum(axis=2))
    far = distance > 60
    if far.sum() < 12:
        return Analysis(background, None, None, None, None, 0.0, 0.0)
    shape_rgb = np.median(pixels[far], axis=0)
    colour = nearest_colour(shape_rgb)
    # The shape: pixels nearer its colour than halfway to the background's, in one piece. A decoded picture has
    # soft edges, a faint rim and specks; counting every pixel unlike the background (the first analyser) read
    # a sharp-looking VAE round trip's square as a star and a small circle as big.
    contrast = np.sqrt(((shape_rgb - bg_rgb) ** 2).sum())
    mask = _largest_piece(np.sqrt(((pixels - shape_rgb) ** 2).sum(axis=2)) < contrast / 2)
    if mask.sum() < 12:
        return Analysis(background, colour, None, None, None, 0.0, 0.0)
    ys, xs = np.nonzero(mask)
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    width = box[2] - box[0]
    size = "big" if width >= (_SIDE["big"] + _SIDE["small"]) / 2 * SIZE * 0.95 else "small"
    cx = xs.mean() / SIZE
    position = "left" if cx < 0.385 else "right" if cx > 0.615 else "center"
    scores = {shape: _best_fit(shape, mask, box) for shape in SHAPES}
    best = max(scores, key=scores.get)
    fill = mask.sum() / (width * (box[3] - box[1]))
    return Analysis(background, colour, best, size, position, float(scores[best]), float(fill))
