"""The mini ControlNet of mini-shapes: its data (controls and captions), its training script (a smoke run, as
`python -m scripts.mini_control.train` runs it) and the shipped model following a drawn shape and place."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from scripts.mini_control import data
from studio.image import preprocess, shapes
from tests.commands import run_module


ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "assets" / "models" / "mini-shapes"
SHIPPED = ROOT / "assets" / "models" / "mini-shapes-controlnet"


def _lines_centroid(control) -> tuple[float, float]:
    ys, xs = np.nonzero(np.asarray(control.convert("L")) > 64)
    return xs.mean() / control.width, ys.mean() / control.height


def test_controls_are_white_lines_on_black_around_the_shape():
    rng = random.Random(4)
    for _ in range(40):
        scene = data.random_scene(rng)
        for control in (data.canny(scene), data.scribble(scene, rng)):
            assert control.mode == "RGB" and control.size == (64, 64) and not preprocess.is_blank(control)
            pixels = np.asarray(control)
            assert (pixels[..., 0] == pixels[..., 2]).all() and np.mean(pixels < 16) > 0.7  # grey lines, black ground
            x, y = _lines_centroid(control)
            assert abs(x - scene.cx) < 0.08 and abs(y - scene.cy) < 0.1, (scene, x, y)


def test_captions_name_only_the_size_and_place_the_drawing_shows_and_never_a_held_out_pair():
    rng = random.Random(5)
    for _ in range(500):
        scene = data.random_scene(rng)
        assert (scene.shape, scene.colour) not in shapes.HELD_OUT and scene.colour != scene.background
        assert 0.2 <= scene.cx <= 0.8 and 0.25 <= scene.cy <= 0.75
        named = shapes.parse_prompt(data.caption(scene, rng))
        assert all(getattr(scene, k) == v for k, v in named.items() if k in ("shape", "colour", "background"))
        words = data.place_words(scene)
        for attribute in ("size", "position"):
            assert named.get(attribute, words.get(attribute)) == words.get(attribute), (scene, named)


def _pipelines(controlnet_folder: Path):
    from scripts.mini_control import evaluate
    return evaluate.load(controlnet_folder, SHAPES)


@pytest.mark.slow  # trains (3 steps) and loads two pipelines: about 15 s on 2 cores
def test_training_smoke_run_makes_a_controlnet_that_mini_shapes_runs_with(tmp_path):
    import torch
    from diffusers import AutoPipelineForText2Image, ControlNetModel

    out = tmp_path / "model"
    run_module("scripts.mini_control.train", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out),
               "--threads", "1")
    assert {p.name for p in out.iterdir()} == {"config.json", "diffusion_pytorch_model.safetensors", "README.md",
                                               "training.json", "loss.png"}
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] == 3 and record["command"].startswith("python -m scripts.mini_control.train --smoke")
    assert ControlNetModel.load_config(out)["conditioning_embedding_out_channels"] == [16, 32, 64]
    pipe, controlled = _pipelines(out)
    assert type(controlled).__name__ == "StableDiffusionControlNetPipeline"
    auto = AutoPipelineForText2Image.from_pipe(pipe, controlnet=controlled.controlnet)
    assert type(auto).__name__ == "StableDiffusionControlNetPipeline"
    control = data.scribble(data.Scene("star", "red", "blue", 0.3, 0.5, 0.4), random.Random(0))
    image = controlled("a red star, blue background", image=control, num_inference_steps=2, width=64, height=64,
                       generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


# Drawn far from where mini-shapes puts shapes on its own (x 0.27 / 0.5 / 0.73, always y 0.5), and the prompt
# does not name the shape: only the drawing can say which shape goes where. Stars are left to the place check: the
# shipped weights paint them rounded, often read as circles (the model card's limits).
CASES = [  # (scene, control kind)
    (data.Scene("triangle", "yellow", "blue", 0.3, 0.33, 0.42), "scribble"),
    (data.Scene("triangle", "yellow", "blue", 0.7, 0.67, 0.42), "scribble"),
    (data.Scene("circle", "red", "white", 0.62, 0.35, 0.36), "scribble"),
    (data.Scene("square", "green", "purple", 0.35, 0.65, 0.42), "canny"),
    (data.Scene("star", "orange", "black", 0.4, 0.6, 0.5), "scribble"),
]


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="the mini ControlNet is not shipped yet")
def test_the_shipped_controlnet_paints_the_drawn_shape_where_it_is_drawn():
    from scripts.mini_control import evaluate
    _pipe, controlled = _pipelines(SHIPPED)
    controls = [data.scribble(scene, random.Random(i), scale=4, width=2.5) if kind == "scribble" else data.canny(scene)
                for i, (scene, kind) in enumerate(CASES)]
    prompts = [shapes.describe({"colour": s.colour, "background": s.background}, "en") for s, _ in CASES]
    images = evaluate.generate(controlled, prompts, [7] * len(CASES), controls)
    for (scene, _kind), image in zip(CASES, images):
        found = shapes.analyse(image)
        assert (found.colour, found.background) == (scene.colour, scene.background), scene
        assert scene.shape == "star" or found.shape == scene.shape, (scene, found.shape)
        x, y = evaluate.centroid(evaluate.shape_mask(image))
        drawn_x, drawn_y = evaluate.centroid(data.mask(scene))
        assert abs(x - drawn_x) < 0.07 and abs(y - drawn_y) < 0.07, (scene, x, y)
    # the same prompt and seed: the triangle went where it was drawn
    (left, top), (right, bottom) = (evaluate.centroid(evaluate.shape_mask(image)) for image in images[:2])
    assert right - left > 0.3 and bottom - top > 0.25
    big = evaluate.generate(controlled, prompts[:1], [7], [data.scribble(CASES[0][0], random.Random(0), size=128,
                                                                           scale=2, width=5)], size=128)[0]
    assert big.size == (128, 128) and shapes.analyse(big).shape == "triangle"
