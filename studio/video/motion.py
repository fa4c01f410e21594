"""The world of the mini-motion model: one mini-shapes object moving on a plain background.

Shapes, colours, the outline drawing and the held-out shape-colour pairs come from studio.image.shapes; this
module adds the motions, a deterministic clip renderer, the zh / en caption writer used for training, a
prompt parser, and a clip analyser that reads background, colour, shape and motion back from frames.
Training (scripts/mini_motion), evaluation and tests all use this one module.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from studio.image import shapes


SIZE = shapes.SIZE  # 64x64, like mini-shapes
FRAMES = 17  # Wan's rule: 4k + 1 frames
HELD_OUT = shapes.HELD_OUT  # never shown in training, as in mini-shapes

# name -> (zh phrases, en phrases); the first phrase of each is the canonical one.
MOTIONS = {
    "left_to_right": (["从左向右移动", "从左往右移动", "向右移动"],
                      ["moving from left to right", "moving right"]),
    "right_to_left": (["从右向左移动", "从右往左移动", "向左移动"],
                      ["moving from right to left", "moving left"]),
    "falling": (["从上往下落", "往下落", "下落"], ["falling from top to bottom", "falling down"]),
    "rising": (["从下往上升", "往上升", "上升"], ["rising from bottom to top", "rising up"]),
    "growing": (["变大", "慢慢变大"], ["growing bigger", "growing"]),
    "shrinking": (["变小", "慢慢变小"], ["shrinking", "getting smaller"]),
}


@dataclass(frozen=True)
class Clip:
    """One object moving linearly from (x0, y0, side s0) to (x1, y1, s1); fractions of the frame width."""
    shape: str
    colour: str
    background: str
    motion: str
    x0: float
    y0: float
    s0: float
    x1: float
    y1: float
    s1: float


def _path(motion: str, rng: random.Random) -> tuple[float, ...]:
    """Start and end (x, y, side) of a motion, with jitter so that no two clips are alike."""
    if motion in ("growing", "shrinking"):
        x, y = 0.5 + rng.uniform(-0.06, 0.06), 0.5 + rng.uniform(-0.06, 0.06)
        small, big = rng.uniform(0.14, 0.2), rng.uniform(0.46, 0.56)
        return (x, y, small, x, y, big) if motion == "growing" else (x, y, big, x, y, small)
    side = rng.uniform(0.24, 0.34)
    start, end, across = rng.uniform(0.2, 0.28), rng.uniform(0.72, 0.8), 0.5 + rng.uniform(-0.12, 0.12)
    if motion in ("right_to_left", "rising"):
        start, end = end, start
    if motion in ("left_to_right", "right_to_left"):
        return (start, across, side, end, across, side)
    return (across, start, side, across, end, side)


def random_clip(rng: random.Random, allow_held_out: bool = False, motion: str | None = None) -> Clip:
    while True:
        shape, colour = rng.choice(list(shapes.SHAPES)), rng.choice(list(shapes.COLOURS))
        if allow_held_out or (shape, colour) not in HELD_OUT:
            break
    background = rng.choice([c for c in shapes.COLOURS if c != colour])
    motion = motion or rng.choice(list(MOTIONS))
    return Clip(shape, colour, background, motion, *_path(motion, rng))


def render_frame(clip: Clip, t: float, size: int = SIZE, supersample: int = 4) -> Image.Image:
    """The frame at time t in [0, 1] (anti-aliased by drawing large and scaling down)."""
    big = size * supersample
    x, y, side = (a + (b - a) * t for a, b in ((clip.x0, clip.x1), (clip.y0, clip.y1), (clip.s0, clip.s1)))
    image = Image.new("RGB", (big, big), shapes.COLOURS[clip.background][1])
    draw = ImageDraw.Draw(image)
    points = shapes.outline(clip.shape, x * big, y * big, side * big)
    (draw.ellipse if clip.shape == "circle" else draw.polygon)(points, fill=shapes.COLOURS[clip.colour][1])
    return image.resize((size, size), Image.Resampling.LANCZOS)


def render(clip: Clip, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """The clean clip as uint8 [frames, size, size, 3]."""
    return np.stack([np.asarray(render_frame(clip, i / max(1, frames - 1), size)) for i in range(frames)])


# -- captions ------------------------------------------------------------------------------------
def caption(clip: Clip, rng: random.Random, drop: float = 0.3) -> str:
    """A zh or en caption; shape, colour and background are each left out with probability `drop` (then they
    are random), the motion with drop / 3."""
    keep = {k: rng.random() >= drop for k in ("shape", "colour", "background")}
    keep["motion"] = rng.random() >= drop / 3
    zh = rng.random() < 0.5
    phrase = rng.choice(MOTIONS[clip.motion][0 if zh else 1]) if keep["motion"] else ""
    return _caption_zh(clip, keep, phrase) if zh else _caption_en(clip, keep, phrase)


def _caption_zh(clip: Clip, keep: dict, phrase: str) -> str:
    colour = shapes.COLOURS[clip.colour][0] if keep["colour"] else ""
    text = colour + (shapes.SHAPES[clip.shape] if keep["shape"] else "图形") + phrase
    if keep["background"]:
        text = f"{shapes.COLOURS[clip.background][0]}背景上的{text}"
    return text


def _caption_en(clip: Clip, keep: dict, phrase: str) -> str:
    words = ([clip.colour] if keep["colour"] else []) + [clip.shape if keep["shape"] else "shape"]
    words = ["an" if words[0][0] in "aeiou" else "a"] + words
    text = " ".join(words + ([phrase] if phrase else []))
    if keep["background"]:
        text += f" on a {clip.background} background"
    return text


# First match wins: specific phrases before single words ("from left to right" names "left" and "right").
_MOTION_WORDS = [
    ("left to right", "left_to_right"), ("right to left", "right_to_left"), ("从左", "left_to_right"),
    ("从右", "right_to_left"), ("从上往下", "falling"), ("从下往上", "rising"), ("top to bottom", "falling"),
    ("bottom to top", "rising"), ("向右", "left_to_right"), ("往右", "left_to_right"), ("向左", "right_to_left"),
    ("往左", "right_to_left"), ("变大", "growing"), ("放大", "growing"), ("变小", "shrinking"), ("缩小", "shrinking"),
    ("落", "falling"), ("降", "falling"), ("升", "rising"), (r"\bfall", "falling"), (r"\bdrop", "falling"),
    (r"\bdown\b", "falling"), (r"\bris", "rising"), (r"\bup\b", "rising"), (r"\bgrow", "growing"),
    (r"\bbigger\b", "growing"), (r"\blarger\b", "growing"), (r"\bshrink", "shrinking"),
    (r"\bsmaller\b", "shrinking"),
    (r"\bright", "left_to_right"), (r"\bleft", "right_to_left"),
]


def parse_prompt(prompt: str) -> dict[str, str]:
    """The attributes a prompt names (motion, shape, colour, background; zh or en); unknown words are ignored."""
    text = (prompt or "").lower()
    found = {k: v for k, v in shapes.parse_prompt(text).items() if k in ("shape", "colour", "background")}
    for pattern, motion in _MOTION_WORDS:
        if re.search(pattern, text):
            found["motion"] = motion
            break
    return found


# -- analysis ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MotionAnalysis:
    background: str
    colour: str | None
    shape: str | None
    motion: str | None
    dx: float  # fitted displacement over the clip, fractions of the width (+ right)
    dy: float  # (+ down)
    growth: float  # fitted log of the last / first area
    seen: int  # frames in which the object was found

    def as_dict(self) -> dict[str, str | None]:
        return {"background": self.background, "colour": self.colour, "shape": self.shape, "motion": self.motion}


def as_frames(video) -> np.ndarray:
    """uint8 [F, H, W, 3] from a list of PIL images, a uint8 array or a float array in [0, 1] (diffusers' "np")."""
    if isinstance(video, (list, tuple)) and video and isinstance(video[0], Image.Image):
        return np.stack([np.asarray(f.convert("RGB")) for f in video])
    array = np.asarray(video)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    return array


def analyse(video) -> MotionAnalysis:
    """Background from the border, object colour, centroid and area track -> motion (a fitted line over time)."""
    frames = as_frames(video).astype(np.float64)
    n, h, w, _ = frames.shape
    edges = (frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1])
    border = np.concatenate([e.reshape(-1, 3) for e in edges])
    bg_rgb = np.median(border, axis=0)
    masks = np.sqrt(((frames - bg_rgb) ** 2).sum(axis=3)) > 60  # the threshold studio.image.shapes uses
    background = shapes.nearest_colour(bg_rgb)
    times, track = [], []
    for i, mask in enumerate(masks):
        if mask.sum() >= 6:
            ys, xs = np.nonzero(mask)
            times.append(i / max(1, n - 1))
            track.append((xs.mean() / w, ys.mean() / h, np.log(mask.sum() / (h * w))))
    if len(times) < max(2, n // 3):
        return MotionAnalysis(background, None, None, None, 0.0, 0.0, 0.0, len(times))
    colour = shapes.nearest_colour(np.median(frames[masks], axis=0))
    slopes = np.polyfit(np.array(times), np.array(track), 1)[0]  # change per clip of x, y and log-area
    dx, dy, growth = (float(s) for s in slopes)
    biggest = int(masks.sum(axis=(1, 2)).argmax())
    shape = shapes.analyse(Image.fromarray(frames[biggest].astype(np.uint8))).shape
    return MotionAnalysis(background, colour, shape, classify(dx, dy, growth), dx, dy, growth, len(times))


def classify(dx: float, dy: float, growth: float) -> str | None:
    """The motion a track shows: the stronger of moving (~0.5 of the width per clip) and growing (~2.2 log-area);
    None when the object barely changes."""
    move, grow = max(abs(dx), abs(dy)) / 0.5, abs(growth) / 2.2
    if max(move, grow) < 0.25:
        return None
    if grow > move:
        return "growing" if growth > 0 else "shrinking"
    if abs(dx) >= abs(dy):
        return "left_to_right" if dx > 0 else "right_to_left"
    return "falling" if dy > 0 else "rising"
