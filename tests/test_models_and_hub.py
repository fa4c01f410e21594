"""Finding models: registry keys, local folders (only inside the model folders), hub downloads offline."""
from __future__ import annotations

import json
import shutil

import pytest

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.core.specs import resolve


def test_local_folders_are_detected_by_their_own_files(studio_env):
    assert resolve("tiny-sd15").loader == "sd" and resolve("tiny-sd15").task == "image"
    assert resolve("tiny-qwen2").task == "text"
    assert resolve("tiny-wan").task == "video"
    assert set(api.local_models("image")) == {"tiny-sd15", "tiny-sdxl"}


@pytest.mark.parametrize("path", ["/etc", "../..", "tiny-sd15/../../.."])
def test_paths_outside_the_model_folders_are_refused(studio_env, path):
    with pytest.raises(StudioError) as err:
        resolve(path)
    assert err.value.key == "path_outside_dirs"
    assert "模型目录" in err.value.message("zh")


def test_folder_that_is_not_a_pipeline(studio_env, models_dir):
    (models_dir / "notes").mkdir()
    (models_dir / "notes" / "readme.txt").write_text("hello")
    with pytest.raises(StudioError) as err:
        api.generate_image("x", model="notes")
    assert err.value.key == "not_a_pipeline"
    assert "model_index.json" in err.value.message("en")


def test_pickle_only_weights_are_refused_unless_the_operator_allows(studio_env, models_dir):
    folder = models_dir / "pickled"
    shutil.copytree(models_dir / "tiny-qwen2", folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(StudioError) as err:
        manager().get("pickled")
    assert err.value.key == "unsafe_weights" and "STUDIO_ALLOW_PICKLE" in err.value.message("en")


def test_remote_code_is_refused_without_opt_in(studio_env, models_dir):
    folder = models_dir / "remote"
    shutil.copytree(models_dir / "tiny-qwen2", folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(StudioError) as err:
        manager().get("remote")
    assert err.value.key == "remote_code"


def test_a_snapshot_in_the_model_folder_loads_under_its_registry_key(studio_env, models_dir):
    """A downloaded snapshot lands in <model dir>/<key>; the registry key then loads it."""
    assert not next(m for m in api.list_models("image") if m["key"] == "sd15")["on_disk"]
    shutil.copytree(models_dir / "tiny-sd15", models_dir / "sd15")
    row = next(m for m in api.list_models("image") if m["key"] == "sd15")
    assert row["on_disk"] and row["disk_bytes"] > 0
    status = api.load("sd15")
    assert status["key"] == "sd15" and status["device"] == "cpu"
    result = api.generate_image("a cat", model="sd15", steps=2, seed=3, width=64, height=64, save=False)
    assert result.images[0].size == (64, 64) and "Model: sd15" in result.infotexts[0]
    assert api.delete("sd15").endswith("sd15")  # unloads, then removes the folder
    assert not (models_dir / "sd15").exists() and not manager().is_loaded("sd15")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hub, where", [("modelscope", "modelscope"), ("hf", "hf-mirror.invalid")])
def test_offline_download_fails_fast_with_a_useful_message(studio_env, hub, where):
    studio_env(STUDIO_HUB=hub, HF_ENDPOINT="https://hf-mirror.invalid")
    with pytest.raises(StudioError) as err:
        api.generate_image("a cat", model="sd15")  # lazy load -> download attempt
    message = err.value.message("en")
    assert err.value.key == "hub_offline"
    assert "sd15" in message and where in message.lower() and "HF_HOME" in message
    assert "2.0 s" in message  # the configured probe timeout


def test_local_only_source_says_where_it_looked(studio_env, models_dir):
    with pytest.raises(StudioError) as err:
        api.load("sdxl")
    assert err.value.key == "hub_local_only"
    assert str(models_dir / "sdxl") in err.value.message("zh")


def test_builtin_models_cannot_be_deleted_and_unknown_keys_are_named(studio_env):
    with pytest.raises(StudioError) as err:
        api.delete("mini-shapes")
    assert err.value.key == "builtin_delete"
    with pytest.raises(StudioError) as err:
        api.load("no-such-model")
    assert err.value.key == "unknown_model" and "sd15" in err.value.message("en")


def test_list_models_covers_the_registry(studio_env):
    keys = {m["key"] for m in api.list_models()}
    assert {"mini-shapes", "mini-poem", "mini-motion", "espeak", "sd15", "sdxl", "qwen2.5-0.5b", "qwen2.5-1.5b",
            "chattts", "wan2.1-t2v-1.3b", "clip-vit-b32"} <= keys
    sd15 = next(m for m in api.list_models(lang="en") if m["key"] == "sd15")
    assert sd15["modelscope_id"] == "AI-ModelScope/stable-diffusion-v1-5" and sd15["licence"]
    assert all(m["task"] == "text" for m in api.list_models("text"))


def test_real_loaders_for_text_and_video_classes(studio_env):
    import torch
    from diffusers import WanPipeline
    text = manager().get("tiny-qwen2")
    chat = text.tokenizer.apply_chat_template([{"role": "user", "content": "你好"}], tokenize=False,
                                              add_generation_prompt=True)
    assert chat.endswith("<|im_start|>assistant\n")
    wan = manager().get("tiny-wan")
    assert isinstance(wan, WanPipeline) and wan.vae.dtype == torch.float32
    assert wan.scheduler.config.flow_shift == 3.0
