"""ControlNet preprocessors: a learner's picture or drawing turned into the control image a ControlNet reads.

Every control image here is RGB at the job's size. Canny and scribble give white lines on black, as the ControlNet
v1.1 canny / scribble models (and the mini ControlNet, scripts/mini_control) were trained on; depth gives a grey
map, near = white (studio.image.depth). A1111's names for them: "canny", "invert (from white bg & black line)".
"""
from __future__ import annotations

import numpy as np
from PIL import Image


CANNY_LOW, CANNY_HIGH = 100, 200  # A1111's ControlNet defaults (Threshold A / B)


def flatten(image: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """RGB, a transparent part (the page's drawing layer) laid on `background`."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image.convert("RGB")


def canny(image: Image.Image, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Image.Image:
    """OpenCV's Canny edges of the picture (hysteresis thresholds low / high on the gradient), white on black.
    On the colour image, as A1111 does: OpenCV takes each pixel's strongest channel gradient, so a red shape on a
    blue ground of the same brightness still has its edge (in grey it would have none)."""
    import cv2
    edges = cv2.Canny(np.ascontiguousarray(np.asarray(flatten(image))), int(low), int(high))
    return Image.fromarray(edges).convert("RGB")


def scribble(image: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """A drawing as white lines on black: dark strokes on a light ground (paper, the page's white canvas) are
    inverted, light strokes on a dark ground kept; then thresholded half-way between ground and strokes. With
    `size`, the lines are found at the drawing's own size and then shrunk, a pixel lit where a quarter of its area
    was line: a thin stroke on a large canvas survives the shrink (thresholding after a plain resize loses it)."""
    grey = np.asarray(flatten(image).convert("L"), dtype=np.float32)
    ground = float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
    ink = np.abs(grey - ground)
    lines = Image.fromarray(np.where(ink > max(32.0, ink.max() / 2), 255, 0).astype(np.uint8))
    if size is not None and lines.size != tuple(size):
        lines = lines.resize(tuple(size), Image.Resampling.BOX).point(lambda v: 255 if v >= 64 else 0)
    return lines.convert("RGB")


def is_blank(control: Image.Image) -> bool:
    """No line at all (an empty canvas, a flat picture's Canny): a control that would only say "nothing here"."""
    return np.asarray(control.convert("L")).max() < 128


def fit(image: Image.Image, width: int, height: int) -> tuple[Image.Image, bool]:
    """The control image at the job's size (A1111's "Just Resize"); True when it had to be resized."""
    if image.size == (width, height):
        return image, False
    return image.resize((width, height), Image.Resampling.LANCZOS), True
