"""The 模型微调 offline demo: a procedurally drawn 水墨 (ink-wash) dataset for mini-shapes.

Each example is a mini-shapes scene redrawn as ink on rice paper: the shape in grey-black ink with soft,
bled edges, the background a warm off-white paper with fibres. Its caption is the scene's own caption, so
a LoRA trained on it learns the style, not new words: afterwards the usual prompts come out in ink wash.
"""
from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageFilter

from studio.image import shapes


# The demo button's training settings (模型微调). On mini-shapes 80 steps at this rate are not enough: the half-
# learnt LoRA raises saturation; 200 steps bring it from ~0.6 to under 0.1 (tests/test_lora_train.py).
DEMO_STEPS = 200
DEMO_LEARNING_RATE = 1e-3

PAPER = np.array([236, 229, 212], np.float32)
INK = np.array([34, 32, 30], np.float32)


def ink_wash(spec: shapes.Spec, size: int, rng: random.Random) -> Image.Image:
    """The scene of `spec` as ink on paper."""
    seed = rng.randrange(2**31)
    noise = np.random.default_rng(seed)
    scene = np.asarray(shapes.render(spec, size), np.float32)  # the colour scene fixes the layout only
    background = np.array(shapes.COLOURS[spec.background][1], np.float32)
    mask = (np.abs(scene - background).sum(-1) > 60).astype(np.float32)
    bled = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(size / 40)),
                      np.float32) / 255
    density = bled * (0.75 + 0.25 * noise.random((size, size)))  # uneven ink
    fibres = noise.normal(0, 6, (size, size, 1)).astype(np.float32)
    picture = PAPER + fibres
    picture = picture * (1 - density[..., None]) + INK * density[..., None]
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def dataset(count: int = 12, size: int = shapes.SIZE, seed: int = 0) -> tuple[list[Image.Image], list[str]]:
    """(images, captions): `count` ink-wash scenes and the mini-shapes captions of what they show."""
    rng = random.Random(seed)
    images, captions = [], []
    for _ in range(count):
        spec = shapes.random_spec(rng)
        images.append(ink_wash(spec, size, rng))
        captions.append(shapes.caption(spec, rng, drop=0.0))
    return images, captions


def saturation(image: Image.Image) -> float:
    """Mean HSV saturation (0-1): colour pictures are high, ink wash is near 0."""
    return float(np.asarray(image.convert("HSV"), np.float32)[..., 1].mean() / 255)
