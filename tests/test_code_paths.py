"""查看代码 scripts carry none of the server's paths (issue 36.9): a learner copies the script to a laptop.

They name the hub id of a course model (even one the teacher downloaded into a folder on the server), the
built-in model's folder relative to a checkout of the studio, or the bare name of the operator's own folder /
LoRA, each with a comment saying how to get the files.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from studio import api
from studio.core.config import settings
from tests import tiny_models
from tests.conftest import ROOT


QUOTED_ABSOLUTE = re.compile(r"""(?<![\w])['"](/[^'"\s]+)['"]""")  # '/x/y' or "/x": a path from the root

SD = dict(prompt="a cat", negative_prompt="blurry", sampler="Euler", steps=2, cfg_scale=6, seed=5, width=64,
          height=64)


def assert_no_server_path(script: str, *folders: Path) -> None:
    quoted = QUOTED_ABSOLUTE.findall(script)
    assert not quoted, f"quoted absolute paths in the script: {quoted}"
    strings = re.findall(r"""['"]([^'"\n]+)['"]""", script)
    on_disk = [q for q in strings if q.startswith("/") and q != "/" and Path(q).exists()]
    assert not on_disk, on_disk
    server = [ROOT, Path(settings().output_dir).expanduser().resolve(), *folders]
    for folder in server:
        for form in {str(folder), str(Path(folder).resolve())}:
            assert form not in script, f"the server folder {form} is in the script"


def model_line(script: str) -> str:
    return next(line for line in script.splitlines() if line.startswith("model_path ="))


# -- 文生图 -----------------------------------------------------------------------------------------
def test_image_code_names_the_own_folder_and_lora_by_name(studio_env, models_dir, tmp_path):
    tiny_models.build_lora(models_dir / "tiny-sd15", models_dir / "lora" / "style")
    script = api.export_code(**SD, model="tiny-sd15", loras={"style": 0.8}, hires_scale=2, hires_upscaler="Latent",
                             hires_steps=2, hires_strength=0.5)
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script) == "model_path = 'tiny-sd15'"
    assert "copy" in script and "'style'" in script and "pytorch_lora_weights.safetensors" in script
    assert "load_lora_weights('style'" in script


def test_img2img_code_has_no_server_path(studio_env, models_dir, tmp_path):
    script = api.export_code(**SD, model="tiny-sd15", init_image=Image.new("RGB", (64, 64), "red"),
                             denoising_strength=0.6)
    assert_no_server_path(script, models_dir, tmp_path)
    assert 'Image.open("init.png")' in script and model_line(script) == "model_path = 'tiny-sd15'"


def test_builtin_image_model_is_named_relative_to_a_checkout(studio_env, models_dir, tmp_path):
    script = api.export_code(**SD, model="mini-shapes")
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script).startswith("model_path = 'assets/models/mini-shapes'")
    assert "AIGC Studio" in script  # the comment says where that folder comes from


def test_a_downloaded_course_model_is_named_by_its_hub_id(studio_env, models_dir, tmp_path):
    (models_dir / "sd15").symlink_to(models_dir / "tiny-sd15", target_is_directory=True)  # as if downloaded here
    script = api.export_code(**SD, model="sd15")
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script).startswith("model_path = 'stable-diffusion-v1-5/stable-diffusion-v1-5'")
    studio_env(STUDIO_HUB="modelscope")
    script = api.export_code(**SD, model="sd15")
    assert_no_server_path(script, models_dir, tmp_path)
    assert "snapshot_download('AI-ModelScope/stable-diffusion-v1-5')" in script


def test_a_single_file_checkpoint_and_the_shipped_configs(studio_env, models_dir, tmp_path):
    import torch
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(models_dir / "mine.safetensors"))
    script = api.export_code(**SD, model="mine.safetensors")
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script).startswith("model_path = 'mine.safetensors'")
    assert "config='assets/pipelines/sd15'" in script


# -- 文本生成 ---------------------------------------------------------------------------------------
def test_text_code_paths(studio_env, models_dir, tmp_path):
    poem = api.export_text_code("山", "mini-poem", 0.7, 0, 1.0, 8, 1.0, 3)
    assert_no_server_path(poem, models_dir, tmp_path)
    assert model_line(poem).startswith("model_path = 'assets/models/mini-poem'")
    own = api.export_text_code("hello", "tiny-qwen2", 0.7, 0, 1.0, 8, 1.0, 3)
    assert_no_server_path(own, models_dir, tmp_path)
    assert model_line(own).startswith("model_path = 'tiny-qwen2'")
    (models_dir / "qwen2.5-0.5b").symlink_to(models_dir / "tiny-qwen2", target_is_directory=True)
    hub = api.export_text_code("hello", "qwen2.5-0.5b", 0.7, 0, 1.0, 8, 1.0, 3)
    assert_no_server_path(hub, models_dir, tmp_path)
    assert model_line(hub).startswith("model_path = 'Qwen/Qwen2.5-0.5B-Instruct'")


# -- 语音合成 ---------------------------------------------------------------------------------------
def test_speech_code_paths(studio_env, models_dir, tmp_path):
    from studio.speech.chattts_files import FILES
    espeak = api.speech_code("你好。", "espeak", seed=1)
    assert_no_server_path(espeak, models_dir, tmp_path)
    hub = api.speech_code("你好。", "chattts", seed=1, text_seed=1)  # not downloaded: the hub's snapshot
    assert_no_server_path(hub, models_dir, tmp_path)
    assert "snapshot_download('2Noise/ChatTTS')" in hub
    for name in FILES:  # a folder of the operator's own (not the published release): copied beside the script
        (models_dir / "chattts" / name).parent.mkdir(parents=True, exist_ok=True)
        (models_dir / "chattts" / name).write_bytes(b"{}")
    own = api.speech_code("你好。", "chattts", seed=1, text_seed=1)
    assert_no_server_path(own, models_dir, tmp_path)
    assert model_line(own).startswith("model_path = 'chattts'") and "sha256_map" in own


# -- 文生视频 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,line", [("mini-motion", "model_path = 'assets/models/mini-motion'"),
                                        ("tiny-wan", "model_path = 'tiny-wan'"),
                                        ("tiny-t2v-sd", "model_path = 'tiny-t2v-sd'")])
def test_video_code_paths(studio_env, models_dir, tmp_path, model, line):
    script = api.export_video_code("a red circle", None, model, steps=2, seed=3, num_frames=5, fps=8, width=32,
                                   height=32)
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script).startswith(line)


def test_video_course_model_is_named_by_its_hub_id(studio_env, models_dir, tmp_path):
    (models_dir / "wan2.1-t2v-1.3b").symlink_to(models_dir / "tiny-wan", target_is_directory=True)
    script = api.export_video_code("a red circle", None, "wan2.1-t2v-1.3b", steps=2, seed=3, num_frames=5, fps=8,
                                   width=32, height=32)
    assert_no_server_path(script, models_dir, tmp_path)
    assert model_line(script).startswith("model_path = 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'")


# -- in the browser: what the code box shows ---------------------------------------------------------
from tests.test_browser import _open, page  # noqa: E402,F401


def _shown_code(page, tab: str) -> str:  # noqa: F811
    panel = _open(page, tab)
    panel.get_by_role("button", name="查看代码", exact=True).click()
    box = panel.locator(".cm-content:visible").first
    page.wait_for_function("() => [...document.querySelectorAll('.cm-content')].some("
                           "c => c.offsetParent && c.innerText.includes('model_path'))")
    return box.inner_text()


@pytest.mark.parametrize("tab,folder", [("文本生成", "assets/models/mini-poem"),
                                        ("文生图", "assets/models/mini-shapes")])
@pytest.mark.slow
def test_the_code_box_shows_no_server_path(page, tab, folder):  # noqa: F811
    code = _shown_code(page, tab)
    assert not QUOTED_ABSOLUTE.findall(code), model_line(code)
    assert str(ROOT) not in code and model_line(code) == f"model_path = '{folder}'"
