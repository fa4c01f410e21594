"""The operator's safety checker: off by default; on, flagged pictures are blacked out with a notice, others are
untouched; switched on without its weights, a message says where to put them."""
from __future__ import annotations

import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError
from tests import tiny_models


KW = dict(model="tiny-sd15", steps=2, seed=5, width=64, height=64, batch_size=2, save=False)


def test_safety_checker_blocks_flagged_pictures_only_when_switched_on(studio_env, models_dir):
    plain = api.generate_image("a red circle", **KW)
    studio_env(STUDIO_SAFETY_CHECKER="1")
    with pytest.raises(StudioError) as err:
        api.generate_image("a red circle", **KW)
    assert err.value.key == "safety_checker_missing" and "sd-safety-checker" in err.value.message("zh")

    tiny_models.build_safety_checker(models_dir / "sd-safety-checker", flag_everything=False)
    passed = api.generate_image("a red circle", **KW)
    assert [np.asarray(a).tolist() for a in passed.images] == [np.asarray(b).tolist() for b in plain.images]
    assert not any("安全检查器" in n for n in passed.notices)

    api.unload("sd-safety-checker")
    import shutil
    shutil.rmtree(models_dir / "sd-safety-checker")
    tiny_models.build_safety_checker(models_dir / "sd-safety-checker", flag_everything=True)
    blocked = api.generate_image("a red circle", **KW)
    assert all(np.asarray(im).max() == 0 for im in blocked.images)  # black, same size
    assert [im.size for im in blocked.images] == [(64, 64), (64, 64)]
    assert any("拦截了 2 张" in n for n in blocked.notices) and "Seed: 5" in blocked.images[0].info["parameters"]
