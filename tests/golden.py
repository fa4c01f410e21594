"""The built-in mini models' outputs for fixed seeds, recorded before a change that must not alter them (a
regrouping of the code, a library upgrade); tests/test_golden.py compares the current outputs with the record.

    python -m tests.golden      # record into tests/data/golden/ (only when the outputs are meant to change)

Pictures and video frames are PNG (lossless); the texts are one JSON file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


RECORD = Path(__file__).parent / "data" / "golden"

# (name, prompt, negative prompt, sampler, steps, cfg, seed): samplers of both families, a negative prompt, Chinese
IMAGES = [("circle", "a red circle in the center", "", "Euler a", 20, 7.0, 42),
          ("square", "a small blue square on the left, yellow background", "", "DPM++ 2M Karras", 15, 7.0, 7),
          ("negative", "红色三角形，绿色背景", "blue", "DDIM", 10, 5.0, 123)]
# (name, prompt, temperature, top_k, top_p, seed): greedy and sampled
TEXTS = [("greedy", "山", 0.0, 50, 0.9, 1), ("sampled", "明月", 0.8, 40, 0.9, 42)]
# (name, prompt, steps, seed)
VIDEOS = [("left_to_right", "蓝色背景上的红色圆形从左向右移动", None, 42)]


def images() -> dict[str, np.ndarray]:
    from studio import api
    return {name: np.asarray(api.generate_image(prompt, negative, "mini-shapes", sampler, steps, cfg, seed,
                                                save=False).images[0].convert("RGB"))
            for name, prompt, negative, sampler, steps, cfg, seed in IMAGES}


def texts() -> dict[str, str]:
    from studio import api
    return {name: api.generate_text(prompt, "mini-poem", temperature, top_k, top_p, seed=seed).text
            for name, prompt, temperature, top_k, top_p, seed in TEXTS}


def videos() -> dict[str, np.ndarray]:
    """Each clip's frames side by side in one strip (frames x height x width x 3)."""
    from studio import api
    return {name: np.stack([np.asarray(f.convert("RGB")) for f in
                            api.generate_video(prompt, model="mini-motion", steps=steps, seed=seed, save=False).frames])
            for name, prompt, steps, seed in VIDEOS}


def strip(frames: np.ndarray) -> Image.Image:
    return Image.fromarray(np.concatenate(list(frames), axis=1))


def unstrip(path: Path, count: int) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return np.stack(np.split(pixels, count, axis=1))


def record() -> None:
    RECORD.mkdir(parents=True, exist_ok=True)
    for name, pixels in images().items():
        Image.fromarray(pixels).save(RECORD / f"image_{name}.png")
    for name, frames in videos().items():
        strip(frames).save(RECORD / f"video_{name}_{len(frames)}.png")
    (RECORD / "texts.json").write_text(json.dumps(texts(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    from studio.core import config
    config.configure([], env={"STUDIO_HUB": "local"})
    record()
    print(f"recorded {RECORD}")
