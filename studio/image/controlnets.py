"""ControlNet models: loading one (named in studio.core.loaders.LOADERS), which base family a net or a UNet belongs
to, whether a net can steer a given UNet (from their config.json files alone, before any weights load), and the
default net of a base model for each kind of control picture.

A ControlNet is a copy of a UNet's encoder half whose outputs (residuals) are added to that UNet's own skip
connections and middle block; so a net fits a UNet only when they share the residuals' shapes (block_out_channels,
layers_per_block, in_channels), the text embedding width they attend to (cross_attention_dim) and the extra
conditioning SDXL adds (addition_embed_type "text_time", with its time-id sizes).
"""
from __future__ import annotations

import json
import weakref
from pathlib import Path

from studio.core.config import settings
from studio.core.device import pick_dtype
from studio.core.errors import StudioError
from studio.core.registry import ASSETS, CARDS
from studio.core.specs import ModelSpec


KINDS = ("canny", "scribble", "depth")  # the control pictures the page offers
BASES = ("sd15", "sdxl", "mini-shapes")  # the base families with registry nets
# Registry image models -> their base family (local folders are told by their unet/config.json).
CARD_BASES = {"sd15": "sd15", "sdxl": "sdxl", "mini-shapes": "mini-shapes"}
# How a family reads in a message (the same in zh and en).
BASE_TITLES = {"sd15": "SD 1.5", "sdxl": "SDXL", "sd2": "SD 2.x", "mini-shapes": "mini-shapes"}

PLAIN_WEIGHTS = "diffusion_pytorch_model.safetensors"
FP16_WEIGHTS = "diffusion_pytorch_model.fp16.safetensors"

# UNet2DConditionModel's and ControlNetModel's defaults for keys a config.json may leave out (old SD 1.5 configs
# predate addition_embed_type): the same in both classes.
_DEFAULTS = dict(in_channels=4, block_out_channels=[320, 640, 1280, 1280], layers_per_block=2,
                 cross_attention_dim=1280, addition_embed_type=None, addition_time_embed_dim=None,
                 projection_class_embeddings_input_dim=None)
_MINI_SHAPES = dict(cross_attention_dim=64, block_out_channels=[32, 64, 96], addition_embed_type=None)


# -- loading --------------------------------------------------------------------------------------------------------
def weights_variant(path: Path) -> str | None:
    """The `variant` that loads a ControlNet folder: "fp16" when it holds only the fp16 safetensors file (the
    registry's downloads keep that one), else None (the plain file, or pickles where the operator allows them)."""
    if (path / PLAIN_WEIGHTS).is_file():
        return None
    return "fp16" if (path / FP16_WEIGHTS).is_file() else None


def load_controlnet(spec: ModelSpec, device: str):
    """A diffusers ControlNetModel from a folder: safetensors only unless the operator allows pickles, in the
    device's precision, on the device, in eval mode."""
    from diffusers import ControlNetModel
    net = ControlNetModel.from_pretrained(spec.path, dtype=pick_dtype(device), variant=weights_variant(spec.path),
                                          use_safetensors=not settings().allow_pickle, local_files_only=True)
    keep_conditioning(net)
    return net.to(device).eval()


def keep_conditioning(net) -> None:
    """Encode the control picture once per call, not at every step. diffusers hands the net the same picture
    tensor at each step and the net runs it through its conditioning encoder (convolutions at full image size)
    every time: 7% of a mini-shapes call on a CPU. The output is kept for that very tensor object at its version,
    and dropped when the tensor is freed; a new call, picture or in-place change recomputes (inference tensors,
    which cannot change in place, carry no version). With autograd on (training) nothing is kept, as a kept output
    would share its graph across steps. The module tree and its state dict are unchanged (only the instance's
    forward is replaced)."""
    import torch
    embedding = net.controlnet_cond_embedding
    compute, kept = embedding.forward, {}

    def forget(ref, key):
        if kept.get(key, (None,))[0] is ref:
            del kept[key]

    def forward(picture):
        if torch.is_grad_enabled():
            return compute(picture)
        key, version = id(picture), None if picture.is_inference() else picture._version  # inference: no counter
        hit = kept.get(key)
        if hit is not None and hit[0]() is picture and hit[1] == version:
            return hit[2]
        out = compute(picture)
        kept[key] = (weakref.ref(picture, lambda ref: forget(ref, key)), version, out)
        return out
    embedding.forward = forward


# -- families -------------------------------------------------------------------------------------------------------
def _get(config: dict, key: str):
    value = config.get(key, _DEFAULTS.get(key))
    return list(value) if isinstance(value, tuple) else value


def _cross(config: dict):
    value = _get(config, "cross_attention_dim")
    if isinstance(value, list) and len(set(value)) == 1:  # one width per block, all the same
        return value[0]
    return value


def base_of(config: dict) -> str:
    """The base family a UNet's or ControlNet's config.json describes: "sd15" (cross-attention width 768, no extra
    conditioning), "sdxl" (2048 with "text_time"), "sd2" (1024), "mini-shapes" (the built-in model's UNet), else a
    description from its numbers."""
    cross, extra, blocks = _cross(config), _get(config, "addition_embed_type"), _get(config, "block_out_channels")
    if cross == 768 and extra is None:
        return "sd15"
    if cross == 2048 and extra == "text_time":
        return "sdxl"
    if cross == 1024 and extra is None:
        return "sd2"
    if all(_get(config, k) == v for k, v in _MINI_SHAPES.items()):
        return "mini-shapes"
    words = [f"cross_attention_dim={cross}", "block_out_channels=" + "/".join(str(b) for b in blocks or [])]
    if extra:
        words.append(f"addition_embed_type={extra}")
    return "UNet(" + ", ".join(words) + ")"


def base_title(base: str) -> str:
    return BASE_TITLES.get(base, base)


def _differences(net_config: dict, unet_config: dict) -> list[str]:
    keys = ["cross_attention_dim", "addition_embed_type", "block_out_channels", "layers_per_block", "in_channels"]
    if _get(unet_config, "addition_embed_type") == "text_time":  # SDXL's time ids: their embedding sizes must agree
        keys += ["addition_time_embed_dim", "projection_class_embeddings_input_dim"]
    found = []
    for key in keys:
        net, unet = (_cross(c) if key == "cross_attention_dim" else _get(c, key) for c in (net_config, unet_config))
        if net != unet:
            found.append(f"{key} {_shown(net)} ≠ {_shown(unet)}")
    return found


def _shown(value) -> str:
    return "/".join(str(v) for v in value) if isinstance(value, list) else str(value)


def check_fits(net_config: dict, unet_config: dict, net_title: str, model_title: str) -> None:
    """Raise StudioError("controlnet_wrong_base") when the ControlNet of `net_config` cannot steer the UNet of
    `unet_config` (both config.json contents), naming both families and what differs."""
    differences = _differences(net_config, unet_config)
    if differences:
        raise StudioError("controlnet_wrong_base", net=net_title, model=model_title,
                          net_base=base_title(base_of(net_config)), model_base=base_title(base_of(unet_config)),
                          reason="; ".join(differences))


def read_config(path: Path) -> dict | None:
    """A config.json's contents, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def unet_config(spec: ModelSpec) -> dict | None:
    """The UNet config.json of a base model on disk: a diffusers folder's unet/, or for a single checkpoint file
    the shipped configs it loads with (assets/pipelines); None when it is not on disk."""
    if spec.path is None:
        return None
    if spec.path.is_file():
        from studio.image.loaders import is_sdxl_checkpoint
        folder = "sdxl" if is_sdxl_checkpoint(spec.path) else "sd15"
        return read_config(ASSETS / "pipelines" / folder / "unet" / "config.json")
    return read_config(spec.path / "unet" / "config.json")


def net_config(spec: ModelSpec) -> dict | None:
    """A ControlNet's config.json, None when it is not on disk."""
    return read_config(spec.path / "config.json") if spec.path is not None and spec.path.is_dir() else None


def family_of(spec: ModelSpec) -> str | None:
    """A model's base family: from its config on disk (a base model's UNet, or a ControlNet), else from its registry
    card (a base model by its key, a ControlNet by its defaults' base); None when neither tells."""
    config = net_config(spec) if spec.task == "controlnet" else unet_config(spec)
    if config is not None:
        return base_of(config)
    if spec.card is None:
        return None
    if spec.task == "controlnet":
        return spec.card.defaults.get("base")
    return CARD_BASES.get(spec.card.key)


def check_pair(net: ModelSpec, base: ModelSpec) -> None:
    """check_fits for two resolved specs, from their config.json files where both are on disk, else (a registry
    model not downloaded yet) from the families their cards name: a wrong pair is refused before any download."""
    net_cfg, unet_cfg = net_config(net), unet_config(base)
    if net_cfg is not None and unet_cfg is not None:
        check_fits(net_cfg, unet_cfg, net.title, base.title)
        return
    net_base, model_base = family_of(net), family_of(base)
    if net_base is not None and model_base is not None and net_base != model_base:
        shown_net, shown_model = base_title(net_base), base_title(model_base)
        raise StudioError("controlnet_wrong_base", net=net.title, model=base.title, net_base=shown_net,
                          model_base=shown_model, reason=f"{shown_net} ≠ {shown_model}")


# -- defaults -------------------------------------------------------------------------------------------------------
def kinds_of(card) -> tuple[str, ...]:
    """The control kinds a ControlNet card takes (defaults' `kinds`, else its one `kind`)."""
    return tuple(card.defaults.get("kinds") or (card.defaults["kind"],))


def default_for(base_spec: ModelSpec | str, kind: str) -> str | None:
    """The registry key of the default ControlNet for a base model (a ModelSpec, or a registry key / folder name)
    and a kind of control picture; None when the registry has no net of that family and kind."""
    if isinstance(base_spec, str):
        from studio.core.specs import resolve
        base_spec = resolve(base_spec)
    family = family_of(base_spec)
    for card in CARDS.values():
        if card.task == "controlnet" and card.defaults.get("base") == family and kind in kinds_of(card):
            return card.key
    return None
