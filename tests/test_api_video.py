"""studio.api.generate_video on a tiny WanPipeline built from configs (the classes of Wan2.1-T2V)."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from studio import api
from studio.errors import StudioError

MODEL = "tiny-wan"
SMALL = dict(steps=2, num_frames=5, fps=8, width=32, height=32)


def test_the_mp4_plays_back_as_requested_with_its_parameters_beside_it(studio_env):
    result = api.generate_video("a red circle moving right", None, MODEL, seed=3, **SMALL)
    frames = iio.imread(result.path, plugin="FFMPEG")  # what a player decodes
    meta = iio.immeta(result.path, plugin="FFMPEG")
    assert frames.shape == (5, 32, 32, 3) and meta["fps"] == 8 and meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")  # browsers play H.264 only as 4:2:0
    params = json.loads(result.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert params["seed"] == 3 and params["negative_prompt"] == "low quality, watermark, glitch"
    assert len(result.frames) == 5 and result.frames[0].size == (32, 32)


def test_same_seed_same_frames_and_another_seed_differs(studio_env):
    a = api.generate_video("a blue star", "", MODEL, seed=11, save=False, **SMALL)
    b = api.generate_video("a blue star", "", MODEL, seed=11, save=False, **SMALL)
    c = api.generate_video("a blue star", "", MODEL, seed=12, save=False, **SMALL)
    pixels = lambda r: np.stack([np.asarray(f) for f in r.frames])  # noqa: E731
    assert np.array_equal(pixels(a), pixels(b)) and not np.array_equal(pixels(a), pixels(c))
    assert a.path is None


def test_frames_and_sizes_are_rounded_to_what_wan_accepts_with_notices(studio_env):
    result = api.generate_video("x", "", MODEL, steps=1, seed=1, num_frames=16, width=44, height=24, save=False,
                                lang="en")
    assert len(result.frames) == 17 and result.frames[0].size == (48, 32)
    assert any("rounded to 17" in n for n in result.notices) and any("multiple of 16" in n for n in result.notices)


def test_flow_shift_reaches_the_scheduler_and_is_not_kept_for_the_next_run(studio_env):
    api.generate_video("x", "", MODEL, seed=1, flow_shift=7.0, save=False, **SMALL)
    from studio.manager import manager
    assert manager().get(MODEL).scheduler.config.flow_shift == 7.0
    api.generate_video("x", "", MODEL, seed=1, save=False, **SMALL)
    assert manager().get(MODEL).scheduler.config.flow_shift == 3.0  # the model's own again


@pytest.mark.parametrize("kwargs,key", [
    (dict(num_frames=1000), "too_many_frames"),
    (dict(width=99999), "size_too_big"),
    (dict(steps=0), "out_of_range"),
    (dict(fps="fast"), "bad_number"),
    (dict(model="tiny-sd15"), "wrong_task"),
])
def test_bad_input_gets_a_message(studio_env, kwargs, key):
    call = dict(prompt="x", model=MODEL, seed=1, save=False) | SMALL | kwargs
    with pytest.raises(StudioError) as err:
        api.generate_video(**call)
    assert err.value.key == key and err.value.message("en")
