"""The mini ControlNet's world: mini-shapes' pictures with the shape at any place and size, their control images
(Canny edges of the picture; a learner's wobbly mouse drawing of the outline after `preprocess.scribble`), and
captions from mini-shapes' vocabulary whose position and size words agree with the drawing or are left out.

Training (train.py), the evaluation (evaluate.py) and the tests all draw from here.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from studio.image import preprocess, shapes


SIZE = shapes.SIZE
SIDES = (0.22, 0.58)  # shape side as a fraction of the width: mini-shapes' small (0.28) and big (0.5), and beyond
X_RANGE, Y_RANGE = (0.2, 0.8), (0.25, 0.75)  # where the shape's centre may be (mini-shapes: x 0.27 / 0.5 / 0.73)


@dataclass(frozen=True)
class Scene:
    """One shape of a colour on a background, centred at (cx, cy) with the given side (fractions of the width)."""
    shape: str
    colour: str
    background: str
    cx: float
    cy: float
    side: float


def random_scene(rng: random.Random, allow_held_out: bool = False, pair: tuple[str, str] | None = None) -> Scene:
    """A scene at a random place and size; never a held-out shape-colour pair unless allowed or asked for (`pair`)."""
    while True:
        shape, colour = pair or (rng.choice(list(shapes.SHAPES)), rng.choice(list(shapes.COLOURS)))
        if pair or allow_held_out or (shape, colour) not in shapes.HELD_OUT:
            break
    background = rng.choice([c for c in shapes.COLOURS if c != colour])
    side = rng.uniform(*SIDES)
    half = side / 2 - 0.03  # the shape may touch the border, not leave the picture
    cx = rng.uniform(max(X_RANGE[0], half), min(X_RANGE[1], 1 - half))
    cy = rng.uniform(max(Y_RANGE[0], half), min(Y_RANGE[1], 1 - half))
    return Scene(shape, colour, background, cx, cy, side)


def _draw_shape(draw: ImageDraw.ImageDraw, scene: Scene, size: int, fill) -> None:
    points = shapes.outline(scene.shape, scene.cx * size, scene.cy * size, scene.side * size)
    (draw.ellipse if scene.shape == "circle" else draw.polygon)(points, fill=fill)


def render(scene: Scene, size: int = SIZE, supersample: int = 4) -> Image.Image:
    """The clean picture, drawn as `shapes.render` draws mini-shapes' (large, then scaled down)."""
    big = size * supersample
    image = Image.new("RGB", (big, big), shapes.COLOURS[scene.background][1])
    _draw_shape(ImageDraw.Draw(image), scene, big, shapes.COLOURS[scene.colour][1])
    return image.resize((size, size), Image.Resampling.LANCZOS)


def mask(scene: Scene, size: int = SIZE) -> np.ndarray:
    """[size, size] bool: the pixels the shape covers (half or more) in its clean picture."""
    big = Image.new("L", (size * 4, size * 4), 0)
    _draw_shape(ImageDraw.Draw(big), scene, size * 4, 255)
    return np.asarray(big.resize((size, size), Image.Resampling.BOX)) >= 128


# -- captions ------------------------------------------------------------------------------------
def place_words(scene: Scene) -> dict[str, str]:
    """mini-shapes' size and position words that the scene clearly is (the analyser's thresholds with a margin):
    a shape half-way between small and big, or between left and centre, gets no word."""
    words = {}
    if scene.side >= 0.44:
        words["size"] = "big"
    elif scene.side <= 0.34:
        words["size"] = "small"
    if scene.cx <= 0.34:
        words["position"] = "left"
    elif scene.cx >= 0.66:
        words["position"] = "right"
    elif 0.44 <= scene.cx <= 0.56:
        words["position"] = "center"
    return words


def caption(scene: Scene, rng: random.Random, drop: float = 0.3) -> str:
    """A zh or en caption in mini-shapes' wording; each attribute left out with probability `drop`, and the size
    and position only named where `place_words` gives one."""
    named = {"shape": scene.shape, "colour": scene.colour, "background": scene.background, **place_words(scene)}
    kept = {k: v for k, v in named.items() if rng.random() >= drop}
    return shapes.describe(kept, "zh" if rng.random() < 0.5 else "en")


# -- control images ------------------------------------------------------------------------------
def canny(scene: Scene, size: int = SIZE, scale: int = 1, picture: Image.Image | None = None) -> Image.Image:
    """`preprocess.canny` of the clean picture rendered at `scale` x `size` (or of `picture`), resized to `size`
    (an uploaded picture larger than the job)."""
    edges = preprocess.canny(picture if picture is not None else render(scene, size * scale))
    return preprocess.fit(edges, size, size)[0]


def _wobble(n: int, rng: random.Random, amplitude: float) -> np.ndarray:
    """A smooth random offset along a path of n points: a few slow sines (a hand's drift)."""
    s = np.linspace(0, 1, n)
    out = np.zeros(n)
    for _ in range(3):
        out += rng.uniform(-1, 1) * np.sin(2 * math.pi * (rng.uniform(0.5, 3.0) * s + rng.random()))
    return amplitude * out / 3


def stroke(scene: Scene, rng: random.Random, canvas: int, pentagram: bool = False) -> list[tuple[float, float]]:
    """The path of a learner's mouse drawing of the outline on a canvas of `canvas` pixels: the centre, size and
    proportions a little off, a slight tilt, wobbly lines, corners not quite where they belong; sometimes a gap,
    sometimes overshooting where it started. `pentagram`: a star drawn as most people draw one, in one stroke
    from point to point (its lines cross inside)."""
    cx = (scene.cx + rng.uniform(-0.02, 0.02)) * canvas
    cy = (scene.cy + rng.uniform(-0.02, 0.02)) * canvas
    side = scene.side * rng.uniform(0.92, 1.08) * canvas
    if scene.shape == "circle":
        n = 48
        angles = rng.uniform(0, 2 * math.pi) + np.linspace(0, 2 * math.pi, n, endpoint=False)
        corners = [(cx + side / 2 * math.cos(a), cy + side / 2 * math.sin(a)) for a in angles]
    else:
        corners = list(shapes.outline(scene.shape, cx, cy, side))
        if pentagram and scene.shape == "star":
            points = corners[0::2]  # the outline alternates outer and inner corners
            corners = [points[i] for i in (0, 2, 4, 1, 3)]
    jitter = (0.004 if scene.shape == "circle" else 0.025) * canvas  # a circle's 48 points: its wobble is enough
    corners = np.array([(x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in corners])
    tilt, stretch = math.radians(rng.uniform(-7, 7)), rng.uniform(0.92, 1.08)
    centre = corners.mean(axis=0)
    rel = (corners - centre) * np.array([stretch, 1 / stretch])
    rotation = np.array([[math.cos(tilt), -math.sin(tilt)], [math.sin(tilt), math.cos(tilt)]])
    corners = centre + rel @ rotation.T
    # densify the closed polygon: a point every ~1.5% of the width, so the wobble bends the sides
    path = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        pieces = max(1, int(np.linalg.norm(b - a) / (0.015 * canvas)))
        path += [a + (b - a) * k / pieces for k in range(pieces)]
    path = np.array(path)
    amplitude = rng.uniform(0.0, 0.02) * canvas
    path = path + np.stack([_wobble(len(path), rng, amplitude), _wobble(len(path), rng, amplitude)], axis=1)
    start = rng.randrange(len(path))
    path = np.roll(path, -start, axis=0)
    roll = rng.random()
    if roll < 0.25:  # a small gap: the stroke stops short of where it began
        path = path[:len(path) - max(1, int(len(path) * rng.uniform(0.03, 0.08)))]
    elif roll < 0.5:  # overshoot past the start
        path = np.concatenate([path, path[:max(1, int(len(path) * rng.uniform(0.02, 0.08)))]])
    else:
        path = np.concatenate([path, path[:1]])
    return [(float(x), float(y)) for x, y in path]


def drawing(scene: Scene, rng: random.Random, canvas: int, width: float, pentagram: bool = False) -> Image.Image:
    """The page's drawing: a stroke of `width` canvas pixels, dark ink (mostly black) on a white canvas."""
    image = Image.new("RGB", (canvas, canvas), (255, 255, 255))
    ink = (0, 0, 0) if rng.random() < 0.8 else tuple(rng.randrange(0, 140) for _ in range(3))
    draw = ImageDraw.Draw(image)
    path = stroke(scene, rng, canvas, pentagram)
    w = max(1, round(width))
    draw.line(path, fill=ink, width=w, joint="curve")
    if w > 2:  # round pen ends
        for x, y in (path[0], path[-1]):
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=ink)
    return image


CANVAS_SCALES = (1, 1, 2, 2, 4, 4, 8)  # a drawing made at 64 px, or on a larger canvas and resized


def scribble(scene: Scene, rng: random.Random, size: int = SIZE, scale: int | None = None,
             width: float | None = None, pentagram: bool = False) -> Image.Image:
    """A learner's drawing of the outline turned into a control: `preprocess.scribble` of the drawing, made on a
    canvas of `scale` x `size` with a stroke of `width` pixels at `size` (1-4), then resized to `size`."""
    scale = scale or rng.choice(CANVAS_SCALES)
    width = width or rng.uniform(1.0, 4.0)
    lines = preprocess.scribble(drawing(scene, rng, size * scale, width * scale, pentagram))
    return preprocess.fit(lines, size, size)[0]


def control_array(image: Image.Image) -> np.ndarray:
    """[H, W] uint8: a control image's one channel (canny and scribble are grey: R = G = B)."""
    return np.asarray(image.convert("L"))
