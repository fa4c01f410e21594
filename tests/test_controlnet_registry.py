"""The ControlNet and depth-estimator cards (issue 43): each download keeps the one safetensors file its card names
(through huggingface_hub's own ignore-pattern filter, the one snapshot_download applies), each net names a known
kind and base family, and every (base, kind) the page offers has a default net."""
from __future__ import annotations

import pytest
from huggingface_hub.utils import filter_repo_objects

from studio.core.registry import CARDS
from studio.image import controlnets


# The repos' files as their "Files and versions" pages list them (main branch; a few of the sample pictures).
_V11 = [".gitattributes", "README.md", "config.json", "diffusion_pytorch_model.bin",
        "diffusion_pytorch_model.fp16.bin", "diffusion_pytorch_model.fp16.safetensors",
        "diffusion_pytorch_model.safetensors", "sd.png", "images/input.png", "images/control.png"]
REPO_FILES = {
    "lllyasviel/control_v11p_sd15_canny": _V11 + ["control_net_canny.py"],
    "lllyasviel/control_v11p_sd15_scribble": _V11 + ["control_net_scribble.py"],
    "lllyasviel/control_v11f1p_sd15_depth": _V11 + ["control_net_depth.py"],
    "diffusers/controlnet-canny-sdxl-1.0": [".gitattributes", "README.md", "config.json", "diffusion_pytorch_model.bin",
                                           "diffusion_pytorch_model.fp16.bin",
                                           "diffusion_pytorch_model.fp16.safetensors",
                                           "diffusion_pytorch_model.safetensors", "out_bird.png", "out_couple.png",
                                           "out_hug_lab_7.png", "out_room.png", "out_tornado.png", "out_women.png"],
    "diffusers/controlnet-depth-sdxl-1.0": [".gitattributes", "README.md", "config.json", "diffusion_pytorch_model.bin",
                                           "diffusion_pytorch_model.fp16.bin",
                                           "diffusion_pytorch_model.fp16.safetensors",
                                           "diffusion_pytorch_model.safetensors"],
    "xinsir/controlnet-scribble-sdxl-1.0": [".gitattributes", "README.md", "config.json",
                                           "diffusion_pytorch_model.safetensors", "masonry.webp",
                                           "000155_scribble_concat.webp", "000028_scribble_concat_hed.webp"],
    "depth-anything/Depth-Anything-V2-Small-hf": [".gitattributes", "README.md", "config.json", "model.safetensors",
                                                 "preprocessor_config.json"],
}
NETS = [c for c in CARDS.values() if c.task == "controlnet"]
DOWNLOADED = [c for c in CARDS.values() if c.task in ("controlnet", "depth") and not c.builtin]
WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


@pytest.mark.parametrize("card", DOWNLOADED, ids=lambda c: c.key)
def test_a_download_keeps_the_config_and_exactly_the_weights_file_the_card_names(card):
    weights = card.defaults["weights"]
    assert weights.endswith(".safetensors")
    kept = set(filter_repo_objects(REPO_FILES[card.hf_id], ignore_patterns=card.download_ignore()))
    assert {"config.json", weights} <= kept
    assert [f for f in kept if f.endswith(WEIGHTS)] == [weights]
    assert not [f for f in kept if f.endswith((".png", ".webp", ".jpg", ".py"))]
    if card.task == "depth":
        assert "preprocessor_config.json" in kept
    else:  # the variant that loads the kept file
        assert card.defaults["variant"] == ("fp16" if ".fp16." in weights else None)


@pytest.mark.parametrize("card", NETS, ids=lambda c: c.key)
def test_each_net_names_a_known_kind_and_base_family(card):
    assert card.loader == "controlnet"
    assert card.defaults["base"] in controlnets.BASES
    kinds = controlnets.kinds_of(card)
    assert card.defaults["kind"] in kinds and set(kinds) <= set(controlnets.KINDS)
    assert card.title["zh"] and card.title["en"] and card.licence
    assert card.builtin or card.hf_id in REPO_FILES


def test_the_depth_estimator_card():
    from studio.image.depth import ESTIMATOR
    (card,) = [c for c in CARDS.values() if c.task == "depth"]
    assert card.key == ESTIMATOR and card.loader == "depth" and card.licence == "Apache-2.0"


# What the page offers: every kind on SD 1.5 and SDXL; on mini-shapes the kinds its built-in net was trained on.
OFFERED = [(base, kind) for base in ("sd15", "sdxl") for kind in controlnets.KINDS]
OFFERED += [("mini-shapes", "scribble"), ("mini-shapes", "canny")]


@pytest.mark.parametrize("base,kind", OFFERED)
def test_every_offered_base_and_kind_has_a_default_net(studio_env, base, kind):
    key = controlnets.default_for(base, kind)
    assert key is not None
    card = CARDS[key]
    assert card.defaults["base"] == base and kind in controlnets.kinds_of(card)
    assert controlnets.default_for(base, "pose") is None
