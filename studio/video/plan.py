"""What a video costs, before and after it is made (文生视频 · 显存推荐 and 原理).

- The course's memory rule: free GPU memory -> resolution and frame count, fitted to the model's constraints.
- Spacetime patches: frames x height x width -> tokens, for raw pixels (the Sora lecture's arithmetic) and
  for Wan's latent patches (VAE 4x in time and 8x in space, then 1x2x2 patches).
- Temporal consistency: how much each frame differs from the one before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


# (free MB above which it applies, height, width, frames): the course's rule, largest first.
MEMORY_RULE = ((10000, 480, 832, 16), (7000, 384, 640, 12), (4000, 320, 576, 8), (0, 256, 448, 6))
RULE_REFERENCE_MB = 10000  # the rule's top row: 480x832x16 fits in about this much


@dataclass
class Recommendation:
    width: int
    height: int
    num_frames: int
    free_mb: int
    threshold_mb: int  # the rule's row that applied (free memory above this)
    asked_frames: int  # the rule's frame count before the 4k+1 fit


def fit_frames(frames: int, step: int) -> int:
    """Up to the next step * k + 1 (Wan: 16 -> 17, 6 -> 9)."""
    k = -(-(max(frames, 1) - 1) // step)
    return k * step + 1


def recommend(free_mb: float, frame_step: int = 4, multiple: int = 16) -> Recommendation:
    """The course's rule (free > 10000 MB: 480x832x16; > 7000: 384x640x12; > 4000: 320x576x8; else 256x448x6),
    sizes floored to `multiple` and frames rounded up to frame_step * k + 1."""
    for threshold, height, width, frames in MEMORY_RULE:
        if free_mb > threshold or threshold == 0:
            return Recommendation(width // multiple * multiple, height // multiple * multiple,
                                  fit_frames(frames, frame_step), int(free_mb), threshold, frames)
    raise AssertionError("the rule's last row applies to everything")


def memory_estimate_mb(width: int, height: int, frames: int) -> int:
    """GPU memory a Wan-sized run needs, scaled from the rule's top row by pixels x frames (a rough guide)."""
    return int(RULE_REFERENCE_MB * (width * height * frames) / (480 * 832 * 16))


@dataclass
class PatchCount:
    frames: int
    height: int
    width: int
    grid: tuple[int, int, int]  # patches along time, height, width
    per_frame: int  # patches in one (latent) frame
    tokens: int


def pixel_patches(frames: int, height: int, width: int, patch: int = 16) -> PatchCount:
    """The lecture's view: every frame cut into patch x patch squares, each one token."""
    grid = (frames, -(-height // patch), -(-width // patch))
    return PatchCount(frames, height, width, grid, grid[1] * grid[2], grid[0] * grid[1] * grid[2])


def wan_patches(frames: int, height: int, width: int, vae_time: int = 4, vae_space: int = 8,
                patch: tuple[int, int, int] = (1, 2, 2)) -> PatchCount:
    """Wan's view: the VAE packs 4 frames (after the first) and 8x8 pixels into one latent, then the
    transformer cuts 1x2x2 latent patches: one token covers 4 frames x 16 x 16 pixels."""
    latent = ((frames - 1) // vae_time + 1, height // vae_space, width // vae_space)
    grid = tuple(-(-n // p) for n, p in zip(latent, patch))
    return PatchCount(frames, height, width, grid, grid[1] * grid[2], grid[0] * grid[1] * grid[2])


def lecture_cost(seconds: float, fps: float, height: int, width: int, patch: int = 16,
                 price_per_million: float = 10.0) -> dict:
    """A minute at 30 fps is 1800 frames; tokens per frame from the patch size; the price of that many tokens."""
    frames = int(round(seconds * fps))
    count = pixel_patches(frames, height, width, patch)
    return {"frames": frames, "tokens_per_frame": count.per_frame, "tokens": count.tokens,
            "cost": count.tokens / 1e6 * price_per_million}


def patch_picture(frame: Image.Image, patch_px: int, colour=(249, 115, 22)) -> Image.Image:
    """The frame with its patch grid drawn on (scaled up so the lines stay visible on small frames)."""
    scale = max(1, 256 // max(frame.size))
    big = frame.convert("RGB").resize((frame.width * scale, frame.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(big)
    step = patch_px * scale
    for x in range(0, big.width + 1, step):
        draw.line([(x, 0), (x, big.height)], fill=colour, width=1)
    for y in range(0, big.height + 1, step):
        draw.line([(0, y), (big.width, y)], fill=colour, width=1)
    return big


def frame_differences(frames) -> list[float]:
    """Mean absolute change (0-255) from each frame to the next: flat = still or smooth, spikes = flicker."""
    video = np.stack([np.asarray(f, np.float32) for f in frames])
    return [float(np.abs(video[i + 1] - video[i]).mean()) for i in range(len(video) - 1)]
