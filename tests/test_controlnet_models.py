"""ControlNet and depth models (issue 43) through the real paths: folders under STUDIO_MODEL_DIRS classified by
their own files, loaded by the shared model manager; nets checked against a base model's UNet from the config.json
files alone; pickle-only nets refused unless the operator allows them; depth maps from the tiny Depth Anything."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.core.specs import detect, resolve
from studio.image import controlnets
from studio.image.depth import depth_map
from tests import tiny_models


def _config(folder) -> dict:
    return json.loads((folder / "config.json").read_text())


def _unet(folder) -> dict:
    return json.loads((folder / "unet" / "config.json").read_text())


def test_folders_are_classified_by_their_own_config(studio_env, models_dir):
    assert detect(models_dir / "tiny-controlnet-sd15") == ("controlnet", "controlnet")
    assert detect(models_dir / "tiny-controlnet-sdxl") == ("controlnet", "controlnet")
    assert detect(models_dir / "tiny-depth") == ("depth", "depth")
    assert resolve("tiny-controlnet-sd15").task == "controlnet" and resolve("tiny-depth").loader == "depth"
    assert detect(models_dir / "tiny-qwen2") == ("text", "causal-lm")  # the others as before


@pytest.mark.parametrize("net,base", [("tiny-controlnet-sd15", "tiny-sd15"), ("tiny-controlnet-sdxl", "tiny-sdxl")])
def test_tiny_nets_load_through_the_manager_and_steer_their_tiny_unet(studio_env, models_dir, net, base):
    from diffusers import ControlNetModel
    controlnets.check_fits(_config(models_dir / net), _unet(models_dir / base), net, base)
    controlnets.check_pair(resolve(net), resolve(base))
    with manager().lease(net) as model:
        assert isinstance(model, ControlNetModel) and not model.training
        assert next(model.parameters()).dtype == torch.float32  # CPU precision
        assert model.config.conditioning_embedding_out_channels == (4, 8) or \
            list(model.config.conditioning_embedding_out_channels) == [4, 8]


def test_an_sd15_net_cannot_steer_an_sdxl_unet_said_in_both_languages(studio_env, models_dir):
    net, unet = _config(models_dir / "tiny-controlnet-sd15"), _unet(models_dir / "tiny-sdxl")
    with pytest.raises(StudioError) as err:
        controlnets.check_fits(net, unet, "tiny-controlnet-sd15", "tiny-sdxl")
    assert err.value.key == "controlnet_wrong_base"
    zh, en = err.value.message("zh"), err.value.message("en")
    for text in (zh, en):
        assert "tiny-controlnet-sd15" in text and "tiny-sdxl" in text
        assert "cross_attention_dim 32 ≠ 64" in text and "addition_embed_type None ≠ text_time" in text
        assert controlnets.base_of(net) in text and controlnets.base_of(unet) in text
    assert "训练" in zh and "trained for" in en
    with pytest.raises(StudioError):
        controlnets.check_pair(resolve("tiny-controlnet-sdxl"), resolve("tiny-sd15"))


def test_families_from_real_configs():
    sd15 = {"cross_attention_dim": 768, "block_out_channels": [320, 640, 1280, 1280]}  # no addition_embed_type
    sdxl = {"cross_attention_dim": 2048, "addition_embed_type": "text_time", "block_out_channels": [320, 640, 1280],
            "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816}
    refiner = dict(sdxl, cross_attention_dim=1280, projection_class_embeddings_input_dim=2560)
    assert controlnets.base_of(sd15) == "sd15" and controlnets.base_of(sdxl) == "sdxl"
    assert controlnets.base_of({"cross_attention_dim": 1024}) == "sd2"
    assert controlnets.base_of(refiner).startswith("UNet(cross_attention_dim=1280")
    controlnets.check_fits(sdxl, dict(sdxl, sample_size=128), "net", "model")
    with pytest.raises(StudioError) as err:
        controlnets.check_fits(sd15, sdxl, "net", "model")
    assert "SD 1.5" in err.value.message("zh") and "SDXL" in err.value.message("en")


def test_the_builtin_mini_shapes_base_is_told_by_its_unet(studio_env):
    assert controlnets.family_of(resolve("mini-shapes")) == "mini-shapes"
    assert controlnets.default_for("mini-shapes", "canny") == "mini-shapes-controlnet"
    assert controlnets.default_for("mini-shapes", "depth") is None


def test_defaults_for_registry_and_local_bases(studio_env):
    assert controlnets.default_for("sd15", "canny") == "controlnet-sd15-canny"
    assert controlnets.default_for("sdxl", "scribble") == "controlnet-sdxl-scribble"
    assert controlnets.default_for(resolve("sdxl"), "depth") == "controlnet-sdxl-depth"
    # A local folder by its UNet: the tiny ones are of no registry family, so they have no default net.
    assert controlnets.family_of(resolve("tiny-sd15")).startswith("UNet(cross_attention_dim=32")
    assert controlnets.default_for("tiny-sd15", "canny") is None


def test_a_local_sd15_folder_gets_the_sd15_nets(studio_env, models_dir):
    folder = models_dir / "my-sd15"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 768}))
    assert controlnets.default_for("my-sd15", "depth") == "controlnet-sd15-depth"
    with pytest.raises(StudioError) as err:  # a registry net not on disk: refused by its card's family
        controlnets.check_pair(resolve("controlnet-sdxl-canny"), resolve("my-sd15"))
    assert err.value.key == "controlnet_wrong_base" and "SDXL ≠ SD 1.5" in err.value.message("en")


def test_a_pickle_only_net_is_refused_unless_the_operator_allows_it(studio_env, models_dir):
    tiny_models.build_controlnet_sd15(models_dir / "pickled-net", safe=False)
    assert not list((models_dir / "pickled-net").glob("*.safetensors"))
    with pytest.raises(StudioError) as err:
        manager().get("pickled-net")
    assert err.value.key == "unsafe_weights"
    studio_env(STUDIO_ALLOW_PICKLE="1")
    assert manager().get("pickled-net") is not None


def test_an_fp16_only_folder_loads_as_its_variant(studio_env, models_dir):
    folder = models_dir / "fp16-net"
    folder.mkdir()
    (folder / "config.json").write_bytes((models_dir / "tiny-controlnet-sd15" / "config.json").read_bytes())
    (folder / controlnets.FP16_WEIGHTS).write_bytes(
        (models_dir / "tiny-controlnet-sd15" / controlnets.PLAIN_WEIGHTS).read_bytes())
    assert controlnets.weights_variant(folder) == "fp16"
    assert controlnets.weights_variant(models_dir / "tiny-controlnet-sd15") is None
    assert manager().get("fp16-net") is not None


def test_depth_map_is_an_rgb_grey_map_of_the_asked_size(studio_env):
    picture = Image.new("RGB", (30, 20), "white")
    picture.paste((0, 0, 0), (0, 0, 15, 20))
    with manager().lease("tiny-depth") as model:
        maps = {size: depth_map(model, picture, *size) for size in [(40, 24), (16, 16)]}
    for size, out in maps.items():
        assert out.mode == "RGB" and out.size == size
        r, g, b = out.split()
        assert list(r.getdata()) == list(g.getdata()) == list(b.getdata())
        assert r.getextrema() == (0, 255)  # spread over the whole range


def test_a_depth_model_with_its_own_code_is_refused_without_opt_in(studio_env, models_dir):
    folder = models_dir / "remote-depth"
    shutil.copytree(models_dir / "tiny-depth", folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForDepthEstimation": "modeling_evil.EvilForDepthEstimation"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(StudioError) as err:
        manager().get("remote-depth")
    assert err.value.key == "remote_code"
