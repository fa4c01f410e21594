"""原理: forward diffusion on the model's schedule, the denoising timeline of a real run, CFG taken apart."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio import api
from studio.core.errors import StudioError


MINI = dict(model="mini-shapes", steps=12, seed=3, lang="en")
PROMPT = "a big red circle on the left, blue background"


def px(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def test_forward_diffusion_follows_the_models_schedule(studio_env):
    source = Image.new("RGB", (256, 256), (200, 30, 30))
    early, late = api.forward_diffusion(source, 0, "tiny-sd15"), api.forward_diffusion(source, 999, "tiny-sd15")
    curve = np.array(early["curve"])
    assert len(curve) == 1000 and np.all(np.diff(curve) < 0)  # abar falls from ~1 towards 0
    assert early["abar"] == pytest.approx(curve[0]) and late["abar"] == pytest.approx(curve[999])
    assert np.abs(px(early["image"]) - px(source)).mean() < 8  # t = 0: still the picture
    assert np.abs(px(late["image"]) - px(source)).mean() > 60  # t = 999: noise
    assert early["signal"] ** 2 + early["noise"] ** 2 == pytest.approx(1)
    with pytest.raises(StudioError):
        api.forward_diffusion(source, 1000, "tiny-sd15")


def test_timeline_shows_the_prediction_settling_on_the_result(studio_env):
    r = api.denoising_timeline(PROMPT, sampler="DPM++ 2M Karras", **MINI)
    steps = [s for s, _ in r["frames"]]
    assert steps[0] == 1 and steps[-1] == 12 and steps == sorted(steps)
    final = px(r["image"])
    first, last = px(r["frames"][0][1]), px(r["frames"][-1][1])
    assert np.abs(last - final).mean() < np.abs(first - final).mean()
    assert np.abs(last - final).mean() < 12
    same = api.generate_image(PROMPT, model="mini-shapes", sampler="DPM++ 2M Karras", steps=12, seed=3, save=False)
    assert np.array_equal(px(same.images[0]), final)  # a real run: the same pixels as Generate


@pytest.mark.parametrize("sampler", ["Euler a", "Heun", "UniPC"])
def test_timeline_counts_sampler_steps_not_model_calls(studio_env, sampler):
    r = api.denoising_timeline(PROMPT, sampler=sampler, **MINI)
    assert r["sampler"] == sampler and r["frames"][-1][0] == 12


def test_timeline_names_the_prompt_each_step_used_with_prompt_editing(studio_env):
    import asyncio

    from tabs import image_explain
    frames, notes = asyncio.run(image_explain.timeline("a [red:blue:2] circle", "", "mini-shapes", "Euler a", 12, 7,
                                                       3, 64, 64, "zh"))
    captions = [caption for _image, caption in frames]
    # steps 0-2 (counted from 0, as A1111) are red: frames count from 1
    assert captions[:4] == ["第 1 步 · a red circle", "第 2 步 · a red circle", "第 3 步 · a red circle",
                            "第 4 步 · a blue circle"]
    assert "第 1–3 步用「a red circle」；第 4–12 步用「a blue circle」" in notes
    plain, _notes = asyncio.run(image_explain.timeline("a red circle", "", "mini-shapes", "Euler a", 12, 7, 3, 64, 64,
                                                       "en"))
    assert [caption for _image, caption in plain][:2] == ["step 1", "step 2"]  # no editing: the step alone


def test_timeline_falls_back_to_euler_for_samplers_without_a_prediction(studio_env):
    r = api.denoising_timeline(PROMPT, sampler="DEIS", **MINI)
    assert r["sampler"] == "Euler" and r["frames"] and "DEIS" in r["notices"][0]


def test_cfg_parts_are_the_runs_they_claim(studio_env):
    r = api.cfg_parts(PROMPT, "", cfg_scale=9, **MINI)
    common = dict(model="mini-shapes", steps=12, seed=3, save=False)
    assert np.array_equal(px(r["guided"]), px(api.generate_image(PROMPT, cfg_scale=9, **common).images[0]))
    assert np.array_equal(px(r["cond"]), px(api.generate_image(PROMPT, cfg_scale=1, **common).images[0]))
    assert np.array_equal(px(r["uncond"]), px(api.generate_image("", cfg_scale=1, **common).images[0]))
    assert r["cfg_scale"] == 9 and r["seed"] == 3
