"""模型微调: api.train_lora on a tiny SD pipeline built from configs (peft on the UNet's attention)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from studio import api
from studio.core.errors import StudioError


pytestmark = pytest.mark.slow  # LoRA trainings (python -m pytest -m "not slow" skips it; CI runs everything)


MODEL = "tiny-sd15"
PROMPT = "sks style, a red circle"


def _examples(n=5):
    """Flat purple squares: a style far from what the random model makes, so a LoRA visibly moves toward it."""
    return [Image.new("RGB", (64, 64), (120 + 10 * i, 40, 160)) for i in range(n)]


def _image(seed=3, loras=None):
    return np.asarray(api.generate_image(PROMPT, "", MODEL, "Euler a", 4, 7, seed, 64, 64, 1, loras=loras,
                                         save=False).images[0], float)


@pytest.fixture
def trained(studio_env):
    return api.train_lora(_examples(), "sks style", MODEL, name="purple", steps=30, learning_rate=5e-3, seed=1)


def test_a_trained_lora_changes_the_picture_and_weight_zero_is_the_base(trained):
    assert trained.path.is_file() and trained.steps == 30 and trained.name == "purple"
    base = _image()
    with_lora = _image(loras=[("purple", 1.0)])
    assert np.abs(with_lora - base).mean() > 1
    assert np.abs(_image(loras=[("purple", 0.0)]) - base).max() <= 1  # weight 0 = the base model
    assert np.array_equal(_image(loras=[("purple", 1.0)]), with_lora)  # same seed, same LoRA: same pixels


def test_the_file_loads_into_a_fresh_pipeline_and_reproduces_the_pictures(trained, models_dir):
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline
    page = _image(seed=4, loras=[("purple", 1.0)])
    pipe = StableDiffusionPipeline.from_pretrained(models_dir / MODEL, safety_checker=None)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.load_lora_weights(str(trained.path.parent), weight_name=trained.path.name, adapter_name="purple")
    pipe.set_adapters(["purple"], [1.0])
    out = pipe(PROMPT, negative_prompt="", num_inference_steps=4, guidance_scale=7, width=64, height=64,
               generator=torch.Generator("cpu").manual_seed(4), output_type="np").images[0]
    assert np.abs(np.rint(out * 255) - page).mean() < 1


def test_one_seed_gives_one_lora_whatever_ran_before(trained):
    """peft draws the LoRA's starting matrices from torch's global generator, and the shared pipeline may hold
    another learner's LoRA: neither may change what a seed trains."""
    from safetensors.torch import load_file
    first = api.train_lora(_examples(), "sks style", MODEL, name="again", steps=3, learning_rate=5e-3, seed=5)
    _image(loras=[("purple", 1.0)])  # a LoRA now loaded and active in the shared pipeline
    torch.manual_seed(1234)  # and the global generator moved on
    second = api.train_lora(_examples(), "sks style", MODEL, name="again", steps=3, learning_rate=5e-3, seed=5)
    a, b = load_file(first.path), load_file(second.path)
    assert first.path != second.path and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_reports_progress_and_stops_when_asked(studio_env):
    stop, seen = threading.Event(), []

    def progress(step, total, loss):
        seen.append((step, total))
        if step == 3:
            stop.set()
    r = api.train_lora(_examples(2), ["a", "b"], MODEL, name="early", steps=50, progress=progress, stop=stop,
                       lang="en")
    assert r.stopped and r.steps == 3 and seen[-1] == (3, 50) and r.path.is_file()
    assert any("3/50" in n for n in r.notices) and any("at least 5" in n for n in r.notices)


def test_names_are_never_overwritten(studio_env):
    a = api.train_lora(_examples(1), "x", MODEL, name="same", steps=1)
    b = api.train_lora(_examples(1), "x", MODEL, name="same", steps=1)
    assert (a.name, b.name) == ("same", "same-2") and a.path != b.path


@pytest.mark.parametrize("kwargs, key", [
    (dict(images=[]), "lora_no_images"),
    (dict(images=["/no/such.png"]), "lora_not_image"),
    (dict(images=[b"not an image"]), "lora_not_image"),
    (dict(captions=["a", "b"]), "lora_captions_mismatch"),
    (dict(captions=[" "]), "lora_empty_caption"),
    (dict(rank=0), "out_of_range"), (dict(rank=65), "out_of_range"), (dict(steps=0), "out_of_range"),
    (dict(steps=10**6), "out_of_range"), (dict(learning_rate="fast"), "bad_number"),
    (dict(name="../evil"), "lora_bad_name"), (dict(model="tiny-qwen2"), "wrong_task"),
    (dict(targets=[]), "lora_bad_targets"), (dict(targets=["conv_in"]), "lora_bad_targets")])
def test_bad_input_gets_a_message(studio_env, kwargs, key):
    call = dict(images=_examples(1), captions=["x"], model=MODEL, steps=1) | kwargs
    with pytest.raises(StudioError) as err:
        api.train_lora(**call)
    assert err.value.key == key and err.value.message("zh") and err.value.message("en")


def test_a_huge_image_is_refused_before_it_is_decoded(studio_env, tmp_path):
    from PIL import PngImagePlugin  # noqa: F401  (a real PNG header claiming 5000x5000)
    path = tmp_path / "huge.png"
    Image.new("L", (5000, 5000)).save(path)
    with pytest.raises(StudioError) as err:
        api.train_lora([path], "x", MODEL, steps=1)
    assert err.value.key == "lora_image_too_big"


def test_the_parameter_calculator_counts_the_real_layers(studio_env):
    rows = api.lora_parameters(MODEL, rank=4)
    assert rows and all(r["full"] == r["in"] * r["out"] and r["lora"] == 4 * (r["in"] + r["out"]) for r in rows)


def test_the_inkwash_demo_lowers_colour_saturation_on_mini_shapes(studio_env):
    from studio.lora import inkwash
    images, captions = api.inkwash_dataset(12)
    assert len(images) == len(captions) == 12 and max(inkwash.saturation(im) for im in images) < 0.15
    api.train_lora(images, captions, "mini-shapes", name="ink", steps=inkwash.DEMO_STEPS,
                   learning_rate=inkwash.DEMO_LEARNING_RATE, seed=0)  # what the demo button sets
    prompts = ["a red circle on a blue background", "绿色背景上的黄色正方形", "a big orange triangle"]

    def saturation(weight):
        return np.mean([inkwash.saturation(api.generate_image(p, "", "mini-shapes", None, 20, 7, 1, 64, 64, 1,
                                                              loras=[("ink", weight)], save=False).images[0])
                        for p in prompts])
    assert saturation(1.0) < saturation(0.0) - 0.2


def test_before_and_after_at_one_seed_in_a_grid(trained):
    result = api.xy_plot(PROMPT, "", MODEL, "Euler a", 4, 7, 3, 64, 64, x_type="lora", x_values="none, purple:1",
                         save=False)
    before, after = (np.asarray(im, float) for im in result.cells[0])
    assert np.abs(before - _image()).max() <= 1 and np.abs(after - _image(loras=[("purple", 1.0)])).max() <= 1
    with pytest.raises(StudioError) as err:
        api.xy_plot(PROMPT, "", MODEL, x_type="lora", x_values="purple:lots")
    assert err.value.key == "grid_bad_lora"
