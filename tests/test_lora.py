"""LoRAs in 文生图: found in the lora folders, weighted, recorded, never leaking into the next run, in the code."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest
import torch

from studio import api
from studio.core.errors import StudioError
from studio.image import lora
from tests import tiny_models
from tests.conftest import beside


SD = dict(prompt="a cat", model="tiny-sd15", sampler="Euler", steps=3, seed=9, width=64, height=64, save=False)


def px(image):
    return np.asarray(image, dtype=np.float64)


@pytest.fixture
def style(models_dir):
    return tiny_models.build_lora(models_dir / "tiny-sd15", models_dir / "lora" / "style")


def test_lora_changes_the_picture_by_its_weight_and_does_not_leak(studio_env, style):
    assert "style" in lora.available()
    plain = px(api.generate_image(**SD).images[0])
    full = api.generate_image(**SD, loras={"style": 1.0})
    half = px(api.generate_image(**SD, loras={"style": 0.5}).images[0])
    off = px(api.generate_image(**SD, loras={"style": 0.0}).images[0])
    assert not np.array_equal(plain, px(full.images[0]))
    assert np.abs(half - plain).mean() < np.abs(px(full.images[0]) - plain).mean()
    assert np.abs(off - plain).mean() < 1.0
    after = px(api.generate_image(**SD).images[0])
    assert np.array_equal(after, plain)  # the adapter is off again for a run without it
    assert f'Lora hashes: "style: {lora.file_hash(style)}"' in full.infotexts[0]


def test_lora_code_reproduces_the_pixels(studio_env, models_dir, style, tmp_path):
    made = api.generate_image(**SD, loras={"style": 0.8})
    kw = {k: v for k, v in SD.items() if k != "save"}
    script = api.export_code(**kw, loras={"style": 0.8})
    preamble = f"import torch; torch.set_num_threads({torch.get_num_threads()})\n"
    (tmp_path / "run.py").write_text(preamble + script, encoding="utf-8")
    beside(tmp_path, models_dir / "tiny-sd15", style.parent)  # the model and LoRA folders, as its comments say
    done = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    from PIL import Image
    again = px(Image.open(tmp_path / "image-9.png").convert("RGB"))
    assert np.abs(again - px(made.images[0])).mean() < 1.0


def test_unknown_or_mismatched_loras_get_messages(studio_env, style, models_dir):
    with pytest.raises(StudioError) as err:
        api.generate_image(**SD, loras={"nope": 1})
    assert err.value.key == "unknown_lora" and "style" in err.value.message("en")
    with pytest.raises(StudioError) as err:
        api.generate_image(**SD, loras={"style": 5})
    assert err.value.key == "out_of_range"
    (models_dir / "lora" / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(StudioError) as err:
        api.generate_image(**SD, loras={"broken": 1})
    assert err.value.key == "bad_lora"


def test_live_redraws_with_the_pages_loras(studio_env, style):
    """实时 (a released knob) keeps the LoRA the page has chosen: its picture is 生成's, with the LoRA's hash."""
    from PIL import Image

    from tabs import image as image_tab
    page = ["a cat", "", "tiny-sd15", "Euler", 3, 7, 9, "", 64, 64, "txt2img", 1, "Latent", 0, 0.5, ["style"], 0.8,
            "en", "Automatic", False, False, False]
    gallery, _seeds, infotext, _notes = asyncio.run(image_tab.live_generate(True, *page))
    assert f'Lora hashes: "style: {lora.file_hash(style)}"' in infotext
    made = api.generate_image(**SD, loras={"style": 0.8}).images[0]
    assert np.array_equal(px(Image.open(gallery[0][0]).convert("RGB")), px(made))
