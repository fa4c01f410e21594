"""The weight-less diffusers pipeline folders in assets/pipelines/.

They must be the published configs of stable-diffusion-v1-5/stable-diffusion-v1-5
and stabilityai/stable-diffusion-xl-base-1.0 (byte for byte, see
assets/pipelines/README.md), so that ``from_single_file(ckpt, config=FOLDER)``
works offline and a random-weight pipeline built from them has the real
architecture.  Everything here runs on CPU without network; models are built on
the meta device (no weights are allocated).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import transformers  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "assets" / "pipelines"
SD15 = PIPELINES / "sd15"
SDXL = PIPELINES / "sdxl"

# (size, sha256) of every file as published on the hub:
# SD 1.5 at revision 451f4fe16113bff5a5d2269ed5ad43b0592e9a14, SDXL base 1.0 at
# revision 462165984030d82259a11f4367a4eed129e94a7b.
_VOCAB = (1059962, "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349")
_MERGES = (524619, "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a")
_MAP_EOS = (472, "c4864a9376a8401918425bed71fc14fc0e81f9b59ec45c1cf96cccb2df508eac")
PUBLISHED = {
    "sd15/model_index.json": (541, "e2f6f22e274374010aec30c79eb2d6e53fff4a36ac0225523a92cb2d41a83347"),
    "sd15/scheduler/scheduler_config.json": (308, "699cce92eb7c122e2eb7dfdea78e6187fda76a5ed4a8e42319b85610e620e091"),
    "sd15/unet/config.json": (743, "78f474de6bab3d893868f37be97b636ae65c0df3073ed3256ca458ff599b5f96"),
    "sd15/vae/config.json": (547, "786a7d21647ddea6a04b9675c03d3cb45e90a2f3c6da5fbda2c54ade040036de"),
    "sd15/text_encoder/config.json": (617, "845df614cb9327ae7bbea027316246fae917827407da6df13572e41b5f93b4cc"),
    "sd15/feature_extractor/preprocessor_config.json": (
        342,
        "2a1da83b5e1032aaeef397552ddb408dca0d8cd1dc58f61bf6abf38d6f33a0a2",
    ),
    "sd15/tokenizer/vocab.json": _VOCAB,
    "sd15/tokenizer/merges.txt": _MERGES,
    "sd15/tokenizer/special_tokens_map.json": _MAP_EOS,
    "sd15/tokenizer/tokenizer_config.json": (806, "00439066fcba73de57644cf41e4e3b9f2dbb09d7f3fc2005898ba52399045882"),
    "sdxl/model_index.json": (609, "6d7b93508390ab91ac5bfbe4aeb4dc2d83f7bb1b05fb069d714b5b0c75f70d44"),
    "sdxl/scheduler/scheduler_config.json": (479, "af3e45a949aff8b8341ab8b811429ec03fee857a700a1d9477363e4fff9666e2"),
    "sdxl/unet/config.json": (1680, "30ebc70750223e59006f7f2b4e1e6c102570aa19a9c4ae3e1fbe7591332dbae6"),
    "sdxl/vae/config.json": (642, "0b331c8ac22ded5f9997a144a575c1d113d6169aff262c353f39015bd24a6264"),
    "sdxl/text_encoder/config.json": (565, "39b8b2e4b1949e36969caa425b6c81c68bace99198dd9078ce05d16ad401fe7f"),
    "sdxl/text_encoder_2/config.json": (575, "a892d1c3a69a7e9247a24de2bc1d5891e3109a54696e53be20093af671072c34"),
    "sdxl/tokenizer/vocab.json": _VOCAB,
    "sdxl/tokenizer/merges.txt": _MERGES,
    "sdxl/tokenizer/special_tokens_map.json": _MAP_EOS,
    "sdxl/tokenizer/tokenizer_config.json": (737, "19d7b034cb0cc3ce9766c2231373ab8aa8991fc72e2c8f76558bfaae3de0d563"),
    "sdxl/tokenizer_2/vocab.json": _VOCAB,
    "sdxl/tokenizer_2/merges.txt": _MERGES,
    "sdxl/tokenizer_2/special_tokens_map.json": (
        460,
        "f118ab3a983206e4f32583448de6bd6aae4ee21869135cef1f5848a753cdaab6",
    ),
    "sdxl/tokenizer_2/tokenizer_config.json": (725, "c9d23941f76a41cbd50eda9290f57be7828f0a7a677939e9ef181f7e12bd1bdf"),
}

# Parameter counts of the real checkpoints.
PARAMS = {
    "sd15/unet": 859_520_964,
    "sd15/vae": 83_653_863,
    "sd15/text_encoder": 123_060_480,
    "sdxl/unet": 2_567_463_684,
    "sdxl/vae": 83_653_863,
    "sdxl/text_encoder": 123_060_480,
    "sdxl/text_encoder_2": 694_659_840,
}

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat", real CLIP ids
TOKENIZERS = [
    ("sd15/tokenizer", "<|endoftext|>", 49407),
    ("sdxl/tokenizer", "<|endoftext|>", 49407),
    ("sdxl/tokenizer_2", "!", 0),
]


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _meta_component(path: str):
    """Build one component from its config on the meta device (no weights)."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = PIPELINES / path
    kind = folder.name
    with init_empty_weights():
        if kind == "unet":
            model = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder))
        elif kind == "vae":
            model = AutoencoderKL.from_config(AutoencoderKL.load_config(folder))
        else:
            config = CLIPTextConfig.from_pretrained(folder)
            cls = {"CLIPTextModel": CLIPTextModel, "CLIPTextModelWithProjection": CLIPTextModelWithProjection}[
                config.architectures[0]
            ]
            model = cls(config)
    assert all(p.device.type == "meta" for p in model.parameters())
    return model


def test_layout_is_complete():
    present = {p.relative_to(PIPELINES).as_posix() for p in PIPELINES.rglob("*") if p.is_file()}
    missing = set(PUBLISHED) - present
    assert not missing, sorted(missing)
    for name in PUBLISHED:
        assert not (PIPELINES / name).is_symlink(), name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_files_are_the_published_bytes(name):
    data = (PIPELINES / name).read_bytes()
    size, digest = PUBLISHED[name]
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest)


@pytest.mark.parametrize("path", sorted(PARAMS))
def test_parameter_counts_match_the_real_models(path):
    assert _count(_meta_component(path)) == PARAMS[path]


def test_sdxl_vae_config():
    config = json.loads((SDXL / "vae/config.json").read_text())
    assert config["force_upcast"] is True
    assert config["scaling_factor"] == 0.13025
    assert config["sample_size"] == 1024


def test_architecture_details():
    sd15 = json.loads((SD15 / "unet/config.json").read_text())
    sdxl = json.loads((SDXL / "unet/config.json").read_text())
    assert (sd15["cross_attention_dim"], sd15["sample_size"]) == (768, 64)
    assert (sdxl["cross_attention_dim"], sdxl["sample_size"]) == (2048, 128)
    assert sdxl["transformer_layers_per_block"] == [1, 2, 10]
    assert sdxl["projection_class_embeddings_input_dim"] == 2816  # 1280 pooled + 6 * 256 time ids
    te = json.loads((SDXL / "text_encoder/config.json").read_text())
    te2 = json.loads((SDXL / "text_encoder_2/config.json").read_text())
    assert te["hidden_size"] + te2["hidden_size"] == sdxl["cross_attention_dim"]


@pytest.mark.parametrize("folder", ["sd15", "sdxl"])
def test_model_index_loads(folder):
    from diffusers import DiffusionPipeline

    config = DiffusionPipeline.load_config(PIPELINES / folder)
    expected = {"sd15": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline"}[folder]
    assert config["_class_name"] == expected
    for component in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (PIPELINES / folder / component).is_dir(), component


def test_schedulers_load():
    from diffusers import EulerDiscreteScheduler, PNDMScheduler

    sd15 = PNDMScheduler.from_pretrained(SD15, subfolder="scheduler")
    sdxl = EulerDiscreteScheduler.from_pretrained(SDXL, subfolder="scheduler")
    for scheduler in (sd15, sdxl):
        assert scheduler.config.beta_schedule == "scaled_linear"
        assert (scheduler.config.beta_start, scheduler.config.beta_end) == (0.00085, 0.012)
        assert scheduler.config.steps_offset == 1
        assert scheduler.config.prediction_type == "epsilon"


def test_meta_pipelines_assemble():
    """A pipeline object wires up from config-built components (the benchmark path, minus weights)."""
    from diffusers import EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    sd15 = StableDiffusionPipeline(
        vae=_meta_component("sd15/vae"),
        text_encoder=_meta_component("sd15/text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(SD15 / "tokenizer"),
        unet=_meta_component("sd15/unet"),
        scheduler=PNDMScheduler.from_pretrained(SD15, subfolder="scheduler"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    assert sd15.vae_scale_factor == 8
    sdxl = StableDiffusionXLPipeline(
        vae=_meta_component("sdxl/vae"),
        text_encoder=_meta_component("sdxl/text_encoder"),
        text_encoder_2=_meta_component("sdxl/text_encoder_2"),
        tokenizer=CLIPTokenizer.from_pretrained(SDXL / "tokenizer"),
        tokenizer_2=CLIPTokenizer.from_pretrained(SDXL / "tokenizer_2"),
        unet=_meta_component("sdxl/unet"),
        scheduler=EulerDiscreteScheduler.from_pretrained(SDXL, subfolder="scheduler"),
    )
    assert sdxl.vae_scale_factor == 8
    assert sdxl.default_sample_size == 128


@pytest.mark.parametrize("path,pad,pad_id", TOKENIZERS)
@pytest.mark.parametrize("cls_name", ["CLIPTokenizer", "CLIPTokenizerFast"])
def test_tokenizers(path, pad, pad_id, cls_name):
    cls = getattr(transformers, cls_name)
    tok = cls.from_pretrained(PIPELINES / path)
    assert len(tok) == 49408
    assert tok.model_max_length == 77
    assert tok("a photo of a cat").input_ids == CAT_IDS
    assert tok("A Photo of a CAT").input_ids == CAT_IDS  # do_lower_case
    assert (tok.bos_token_id, tok.eos_token_id) == (49406, 49407)
    assert (tok.pad_token, tok.pad_token_id) == (pad, pad_id)
    padded = tok("a cat", padding="max_length", max_length=77, truncation=True).input_ids
    assert len(padded) == 77
    assert padded[:4] == [49406, 320, 2368, 49407]
    assert set(padded[4:]) == {pad_id}


def test_make_clip_tokenizer_reproduces_the_files(tmp_path):
    """From open_clip's BPE file (MIT licence), shipped in tests/data."""
    gz = ROOT / "tests" / "data" / "bpe_simple_vocab_16e6.txt.gz"
    from scripts import make_clip_tokenizer as mk
    for folder, pad, style in (
        ("sd15/tokenizer", "<|endoftext|>", "sd15"),
        ("sdxl/tokenizer", "<|endoftext|>", "sdxl"),
        ("sdxl/tokenizer_2", "!", "sdxl"),
    ):
        for name, data in mk.render(Path(gz), pad, style).items():
            assert data == (PIPELINES / folder / name).read_bytes(), (folder, name)
