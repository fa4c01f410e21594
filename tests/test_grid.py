"""参数网格: every cell is the run it is labelled with, laid out X across and Y down."""
from __future__ import annotations

import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError


BASE = dict(prompt="a red circle", model="tiny-sd15", sampler="Euler", steps=3, seed=11, width=32, height=32,
            save=False)


def px(image):
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def test_grid_cells_are_the_labelled_runs_at_one_seed(studio_env):
    r = api.xy_plot(**BASE, x_type="cfg_scale", x_values="3, 7, 12", y_type="sampler", y_values="Euler, DDIM")
    assert len(r.cells) == 2 and all(len(row) == 3 for row in r.cells)
    cell = api.generate_image(**{**BASE, "sampler": "DDIM", "cfg_scale": 12}).images[0]
    assert np.array_equal(px(r.cells[1][2]), px(cell))
    assert not np.array_equal(px(r.cells[0][0]), px(r.cells[0][2]))
    scale = 192 // 32  # small cells are enlarged in the grid image
    assert r.image.width > 3 * 32 * scale and r.image.height > 2 * 32 * scale
    assert r.seed == 11


def test_random_seed_is_one_seed_for_the_whole_grid(studio_env):
    r = api.xy_plot(**{**BASE, "seed": -1}, x_type="steps", x_values="2, 3", lang="en")
    again = api.generate_image(**{**BASE, "seed": r.seed, "steps": 3}).images[0]
    assert np.array_equal(px(r.cells[0][1]), px(again))
    assert any(str(r.seed) in n for n in r.notices)


def test_prompt_search_and_replace_and_sizes(studio_env):
    r = api.xy_plot(**BASE, x_type="prompt_sr", x_values="red, blue", y_type="size", y_values="32x32, 48x32")
    blue = api.generate_image(**{**BASE, "prompt": "a blue circle", "width": 48}).images[0]
    assert np.array_equal(px(r.cells[1][1]), px(blue))
    assert r.cells[0][0].size == (32, 32) and r.cells[1][0].size == (48, 32)


@pytest.mark.parametrize("kw,key", [
    (dict(x_type="steps", x_values=""), "grid_no_values"),
    (dict(x_type="size", x_values="big"), "grid_bad_size"),
    (dict(x_type="seed", x_values=",".join(str(i) for i in range(7)), y_type="steps", y_values="1,2,3,4,5,6"),
     "grid_too_big"),
    (dict(x_type="colour", x_values="red"), "out_of_range"),
    (dict(x_type="steps", x_values="2, lots"), "bad_number"),
])
def test_bad_axes_get_messages(studio_env, kw, key):
    with pytest.raises(StudioError) as err:
        api.xy_plot(**BASE, **kw)
    assert err.value.key == key and err.value.message("zh")
