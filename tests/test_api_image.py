"""generate_image end to end on tiny SD 1.5 / SDXL pipelines: seeds, batches, samplers, inputs, files."""
from __future__ import annotations

import errno
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from studio import api
from studio.core import outputs
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.image import samplers
from tests.conftest import ROOT, beside


SD = dict(model="tiny-sd15", sampler="Euler a", steps=4, cfg_scale=7, width=64, height=64)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize("model", ["tiny-sd15", "tiny-sdxl"])
def test_same_seed_same_pixels_also_after_reload(studio_env, model):
    args = {**SD, "model": model}
    first = api.generate_image("a red circle", "blurry", seed=1234, **args).images[0]
    again = api.generate_image("a red circle", "blurry", seed=1234, **args).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert api.unload(model)
    reloaded = api.generate_image("a red circle", "blurry", seed=1234, **args).images[0]
    assert np.array_equal(pixels(first), pixels(reloaded))
    other = api.generate_image("a red circle", "blurry", seed=1235, **args).images[0]
    assert not np.array_equal(pixels(first), pixels(other))


def test_batch_image_regenerated_alone_with_its_seed(studio_env):
    batch = api.generate_image("a cat", seed=100, batch_size=2, batch_count=2, **SD)
    assert batch.seeds == [100, 101, 102, 103]
    alone = api.generate_image("a cat", seed=103, **SD)
    assert np.abs(pixels(batch.images[3]) - pixels(alone.images[0])).mean() < 1.0
    assert "Seed: 103" in batch.infotexts[3]


def test_random_seed_is_chosen_shown_and_written(studio_env):
    result = api.generate_image("a cat", seed=-1, lang="en", **SD)
    (seed,) = result.seeds
    assert 0 <= seed < 2**32
    assert any(str(seed) in n and "random" in n for n in result.notices)
    assert f"Seed: {seed}" in result.infotexts[0]


def test_saved_png_carries_parameters_and_reproduces_pixels(studio_env):
    result = api.generate_image("a (red) circle, \"quoted\"", "lowres", seed=77, **SD)
    (path,) = result.paths
    assert path.is_file() and path.suffix == ".png"
    params = api.read_infotext(str(path))
    assert params["seed"] == 77 and params["sampler"] == "Euler a" and params["width"] == 64
    assert params["prompt"] == "a (red) circle, \"quoted\"" and params["negative_prompt"] == "lowres"
    again = api.generate_image(params["prompt"], params["negative_prompt"], params["model"], params["sampler"],
                               params["steps"], params["cfg_scale"], params["seed"], params["width"],
                               params["height"], save=False)
    assert np.array_equal(pixels(Image.open(path).convert("RGB")), pixels(again.images[0]))


def test_every_listed_sampler_runs_and_they_differ(studio_env):
    seen = {}
    for name in samplers.names("sd", lcm=False):  # LCM: tests/test_schedule_types.py
        image = api.generate_image("a cat", seed=5, save=False, **{**SD, "sampler": name, "steps": 3}).images[0]
        assert image.size == (64, 64)
        seen[name] = pixels(image)
    assert not np.array_equal(seen["Euler"], seen["DDIM"])


def test_a_sampler_built_from_another_samplers_config_is_itself():
    from diffusers import DDPMScheduler
    base = DDPMScheduler(prediction_type="v_prediction").config
    sde_karras = samplers.make_scheduler("DPM++ 2M SDE", base, "Karras")
    plain = samplers.make_scheduler("DPM++ 2M", sde_karras.config)
    assert (plain.config.use_karras_sigmas, plain.config.algorithm_type) == (False, "dpmsolver++")
    assert plain.config.prediction_type == "v_prediction"  # the model's own settings stay


@pytest.mark.parametrize("name", [n for n in samplers.names() if "Karras" in samplers.schedule_types(n) and n != "LMS"])
def test_karras_spacing_keeps_its_steps_where_a_picture_forms(name):
    """On a zero-terminal-SNR schedule (sigma up to 4096) Karras spacing starts at 80, as in Karras et al.;
    on SD 1.5's schedule it starts at its own top (14.6), as in every web UI. (diffusers' LMS reads no cap.)"""
    from diffusers import DDPMScheduler

    from studio.core.registry import MINI_DIR
    zero_snr = DDPMScheduler.from_pretrained(MINI_DIR / "mini-shapes", subfolder="scheduler").config
    for base, top in ((zero_snr, samplers.KARRAS_SIGMA_MAX), (DDPMScheduler(beta_schedule="scaled_linear",
                      beta_start=0.00085, beta_end=0.012).config, 14.6)):
        scheduler = samplers.make_scheduler(name, base, "Karras")
        scheduler.set_timesteps(20)
        assert float(scheduler.sigmas[0]) == pytest.approx(top, rel=0.01)
        assert samplers.make_scheduler(name, scheduler.config).config.get("sigma_max") is None


def test_sampler_options_do_not_leak_into_the_next_run(studio_env):
    plain = api.generate_image("a cat", seed=9, save=False, **{**SD, "sampler": "Euler"}).images[0]
    api.generate_image("a cat", seed=9, save=False, **{**SD, "sampler": "DPM++ 2M SDE Karras"})
    after = api.generate_image("a cat", seed=9, save=False, **{**SD, "sampler": "Euler"}).images[0]
    assert np.array_equal(pixels(plain), pixels(after))


def test_sizes_are_rounded_with_a_notice(studio_env):
    result = api.generate_image("a cat", seed=1, lang="zh", **{**SD, "width": 70, "height": 60})
    assert result.images[0].size == (72, 64)
    assert any("72x64" in n for n in result.notices)


def test_empty_prompt_is_allowed_and_said(studio_env):
    result = api.generate_image("", seed=1, lang="en", **SD)
    assert len(result.images) == 1 and any("unconditional" in n for n in result.notices)


@pytest.mark.parametrize("field, value, key", [
    ("steps", "abc", "bad_number"), ("steps", 0, "out_of_range"), ("steps", 151, "out_of_range"),
    ("cfg_scale", float("nan"), "bad_number"), ("cfg_scale", 31, "out_of_range"), ("seed", "x", "bad_number"),
    ("seed", -2, "out_of_range"), ("seed", 2**40, "out_of_range"), ("width", 100_000, "size_too_big"),
    ("batch_size", 0, "out_of_range"), ("sampler", "Magic", "bad_sampler"), ("model", "tiny-qwen2", "wrong_task"),
])
def test_bad_input_gets_a_message_in_both_languages(studio_env, field, value, key):
    with pytest.raises(StudioError) as err:
        api.generate_image("a cat", **{**SD, "seed": 1, field: value})
    assert err.value.key == key
    zh, en = err.value.message("zh"), err.value.message("en")
    assert zh != en and zh and en
    assert api.generate_image("a cat", seed=1, **SD).images  # and nothing else broke


def test_full_disk_keeps_the_image_and_says_so(studio_env, monkeypatch):
    def no_space(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(outputs, "write_atomic", no_space)
    result = api.generate_image("a cat", seed=1, lang="en", **SD)
    assert len(result.images) == 1 and result.paths == []
    assert any("No space left" in n for n in result.notices)


def test_model_defaults_follow_the_model(studio_env):
    assert api.model_defaults("sdxl")["width"] == 1024
    assert api.model_defaults("sd15")["width"] == 512
    assert api.model_defaults("tiny-sdxl")["width"] == 32  # UNet sample size 16 x VAE scale 2
    result = api.generate_image("a cat", model="tiny-sd15", seed=1, steps=2, save=False)  # unset size -> native
    assert result.images[0].size == (32, 32)


def test_progress_is_reported_per_step(studio_env):
    seen = []
    api.generate_image("a cat", seed=1, progress=lambda f, text: seen.append((f, text)), **{**SD, "steps": 3})
    assert [f for f, _ in seen][-1] == 1.0 and "3/3" in seen[-1][1]
    assert manager().status()["loaded"][0]["in_use"] == 0  # the lease ended with the run


# SDXL, mini-shapes, schedule types, prompt editing and BREAK: tests/test_image_modes.py (one interpreter runs
# many scripts, each from its own folder; a batch of 2 there too).
@pytest.mark.parametrize("model,sampler,schedule_type", [("tiny-sd15", "DPM++ 2M Karras", "Automatic")])
def test_exported_code_run_as_a_separate_process_reproduces_the_pixels(studio_env, models_dir, tmp_path, model,
                                                                        sampler, schedule_type):
    kw = dict(prompt="a red circle", negative_prompt="blurry", model=model, sampler=sampler, steps=4, cfg_scale=6,
              seed=1234, width=64, height=64, batch_size=2, schedule_type=schedule_type)
    made = api.generate_image(**kw, save=False)
    script = api.export_code(**kw)
    # The same thread count as this process: float reductions (and so the last bit of a pixel) depend on it.
    preamble = f"import torch; torch.set_num_threads({torch.get_num_threads()})\n"
    (tmp_path / "run.py").write_text(preamble + script, encoding="utf-8")
    beside(tmp_path, ROOT / "assets" if model == "mini-shapes" else models_dir / model)  # as its comment says
    subprocess.run([sys.executable, "run.py"], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    for image, seed in zip(made.images, made.seeds):
        again = np.asarray(Image.open(tmp_path / f"image-{seed}.png").convert("RGB"), dtype=float)
        assert np.abs(again - np.asarray(image, dtype=float)).mean() < 1.0
    assert "torch.Generator(\"cpu\").manual_seed" in script and samplers.split(sampler)[0] in script


def test_image_samplers_asks_the_models_scheduler_family(studio_env, monkeypatch):
    """image_samplers(model) reads the model's family: every sampler for SD, a family's own list where it has one,
    and a message for a model of another task."""
    from studio.image import samplers
    assert api.image_samplers() == list(samplers.SAMPLERS)
    assert api.image_samplers("mini-shapes") == [n for n in samplers.SAMPLERS if n != "LCM"]  # no LCM model
    monkeypatch.setitem(samplers.FAMILIES, "sd", ("Euler", "DDIM"))
    assert api.image_samplers("mini-shapes") == ["Euler", "DDIM"]
    with pytest.raises(api.StudioError) as err:
        api.image_samplers("mini-poem")
    assert err.value.key == "wrong_task"
