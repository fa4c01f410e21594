"""The mini models give the recorded outputs for the recorded seeds (tests/golden.py): at most 2/255 per pixel
for a picture, a mean of 0.5/255 for a video, the same text to the letter."""
from __future__ import annotations

import json

import numpy as np

from tests import golden


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def test_mini_shapes_draws_the_recorded_pictures(studio_env):
    for name, pixels in golden.images().items():
        recorded = np.asarray(golden.Image.open(golden.RECORD / f"image_{name}.png").convert("RGB"))
        assert _diff(pixels, recorded).max() <= 2, name


def test_mini_poem_writes_the_recorded_texts(studio_env):
    recorded = json.loads((golden.RECORD / "texts.json").read_text(encoding="utf-8"))
    assert golden.texts() == recorded


def test_mini_motion_makes_the_recorded_clips(studio_env):
    for name, frames in golden.videos().items():
        recorded = golden.unstrip(golden.RECORD / f"video_{name}_{len(frames)}.png", len(frames))
        assert _diff(frames, recorded).mean() <= 0.5, name
