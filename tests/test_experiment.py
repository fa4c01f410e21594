"""优化实验 A vs B: two measured loads, the same picture, and what differs on a CPU said plainly."""
from __future__ import annotations

import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager


def test_experiment_measures_both_arms_and_they_draw_the_same_picture(studio_env):
    manager().get("tiny-sd15")
    r = api.optimisation_experiment("a cat", "tiny-sd15", steps=3, seed=5, width=64, height=64, lang="en")
    a, b = r["rows"]
    assert (a["arm"], a["attention"], a["vae_slicing"]) == ("A", "classic", False)
    assert (b["arm"], b["attention"], b["vae_slicing"]) == ("B", "sdpa", True)
    assert b["dtype"] == "float32" and "No GPU" in r["notices"][0]  # this machine has no GPU
    assert all(row["load_s"] > 0 and row["run_s"] > 0 and row["peak_mb"] >= 0 for row in r["rows"])
    first, second = (np.asarray(img, dtype=float) for img in r["images"])
    assert first.shape == (64, 64, 3) and np.abs(first - second).mean() < 1.0  # same maths, other kernels
    assert not manager().is_loaded("tiny-sd15")  # room was made first


def test_experiment_needs_a_pipeline_folder(studio_env):
    with pytest.raises(StudioError) as err:
        api.optimisation_experiment("a cat", "sd15")  # not downloaded here
    assert err.value.key == "experiment_needs_folder"
