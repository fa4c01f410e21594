"""Tiny random-weight models of the real classes the studio loads, built from configs offline.

This is how diffusers and transformers test themselves: same classes, tiny sizes, random weights,
`save_pretrained` to a folder and loaded back through the same path a downloaded snapshot takes.
The CLIP tokenizers are the real ones shipped in assets/pipelines; the Qwen2 and UMT5 tokenizers
are small BPE / word-level tokenizers built with the `tokenizers` library (the libraries' own test
tokenizers live on the hub, which is unreachable here).
"""
from __future__ import annotations

from pathlib import Path

import torch

from tests import tiny_musicgen


ASSETS = Path(__file__).resolve().parent.parent / "assets" / "pipelines"

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_CORPUS = ["a photo of a cat", "床前明月光，疑是地上霜。", "hello world, the studio makes pictures",
           "举头望明月，低头思故乡。", "the quick brown fox jumps over the lazy dog"] * 4


def _clip_text(hidden: int, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    config = CLIPTextConfig(bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=hidden,
                            intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4,
                            num_hidden_layers=2, vocab_size=49408, projection_dim=hidden, hidden_act="gelu")
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _clip_tokenizer(folder: str):
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(ASSETS / folder)


def _tiny_vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         latent_channels=4, norm_num_groups=2, sample_size=32)


def build_sd15(folder: Path) -> Path:
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=2)
    scheduler = PNDMScheduler.from_pretrained(ASSETS / "sd15", subfolder="scheduler")
    pipe = StableDiffusionPipeline(vae=_tiny_vae(), text_encoder=_clip_text(32),
                                   tokenizer=_clip_tokenizer("sd15/tokenizer"),
                                   unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_sdxl(folder: Path) -> Path:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time",
                                addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
                                projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=1)
    scheduler = EulerDiscreteScheduler.from_pretrained(ASSETS / "sdxl", subfolder="scheduler")
    pipe = StableDiffusionXLPipeline(vae=_tiny_vae(), text_encoder=_clip_text(32),
                                     text_encoder_2=_clip_text(32, projection=True),
                                     tokenizer=_clip_tokenizer("sdxl/tokenizer"),
                                     tokenizer_2=_clip_tokenizer("sdxl/tokenizer_2"), unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def _bpe_tokenizer(specials: list[str], vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    return tok


def build_qwen2(folder: Path) -> Path:
    """A Qwen2 causal LM with a chat template, like Qwen2.5-*-Instruct but tiny."""
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_object=_bpe_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = QWEN_CHAT_TEMPLATE
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    Qwen2ForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def build_wan(folder: Path) -> Path:
    """WanPipeline as it comes (UMT5 text encoder, Wan VAE, Wan transformer, UniPC flow scheduler), tiny."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_object=_bpe_tokenizer(["<pad>", "</s>", "<unk>"]),
                                  pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=32, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8, pad_token_id=0))
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=32)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


BUILDERS = {"tiny-sd15": build_sd15, "tiny-sdxl": build_sdxl, "tiny-qwen2": build_qwen2, "tiny-wan": build_wan,
            "tiny-t2v-sd": lambda folder: build_t2v_sd(folder),
            "tiny-musicgen": tiny_musicgen.build_musicgen,
            "tiny-controlnet-sd15": lambda folder: build_controlnet_sd15(folder),
            "tiny-controlnet-sdxl": lambda folder: build_controlnet_sdxl(folder),
            "tiny-depth": lambda folder: build_depth(folder)}


def build_all(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    return {name: build(root / name) for name, build in BUILDERS.items()}


if __name__ == "__main__":  # python -m tests.tiny_models models/  -> folders usable from the studio's UI
    import sys
    for name, path in build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "models")).items():
        print(name, path)


def build_lora(pipeline_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    """A random (non-zero) LoRA on the UNet attention of a tiny SD pipeline, saved as diffusers saves one."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(pipeline_dir / "unet")
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=get_peft_model_state_dict(unet),
                                              safe_serialization=True)
    return out_dir / "pytorch_lora_weights.safetensors"


def build_t2v_sd(folder: Path) -> Path:
    """TextToVideoSDPipeline (ModelScope's text-to-video-ms-1.7b: CLIP text encoder, 2D VAE, 3D UNet), tiny."""
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    torch.manual_seed(0)
    unet = UNet3DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                                up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    pipe = TextToVideoSDPipeline(vae=_tiny_vae(), text_encoder=_clip_text(32),
                                 tokenizer=_clip_tokenizer("sd15/tokenizer"), unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_clip(folder: Path) -> Path:
    """A tiny CLIPModel + CLIPProcessor (the real CLIP tokenizer, 32 px images), for the alignment score."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor
    torch.manual_seed(0)
    text = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=49408,
                bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
                  patch_size=8)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=_clip_tokenizer("sd15/tokenizer")).save_pretrained(folder)
    return folder


def build_safety_checker(folder: Path, flag_everything: bool) -> Path:
    """A tiny StableDiffusionSafetyChecker (as diffusers' own tests build it) whose concept thresholds make it flag
    every picture (-2: any cosine is above) or none (+2: none is)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor
    torch.manual_seed(0)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
                  patch_size=8)
    checker = StableDiffusionSafetyChecker(CLIPConfig(text_config=dict(hidden_size=32), vision_config=vision,
                                                      projection_dim=16))
    threshold = -2.0 if flag_everything else 2.0
    checker.concept_embeds_weights.data.fill_(threshold)
    checker.special_care_embeds_weights.data.fill_(threshold)
    checker.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under `root`, to notice in-place edits."""
    return {str(f.relative_to(root)): (f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(root.rglob("*")) if f.is_file()}


def break_file(path: Path, data: bytes) -> None:
    """Replace a hard-linked model file with `data` without touching the shared original."""
    path.unlink()
    path.write_bytes(data)


# -- ControlNet (issue 43) ------------------------------------------------------------------------------------------
# The tiny UNets of build_sd15 / build_sdxl, as keyword arguments (tests/test_controlnet_models.py checks that the
# nets built from them fit those pipelines' saved unet/config.json).
_SD15_UNET = dict(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=4,
                  norm_num_groups=2)
_SDXL_UNET = dict(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                  use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                  transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
                  cross_attention_dim=64, norm_num_groups=1)
# The conditioning embedding takes the control picture down to the latent grid: by the tiny VAE's factor, 2.
_TINY_CONDITIONING = (4, 8)


def _controlnet(unet_kwargs: dict, folder: Path, safe: bool) -> Path:
    from diffusers import ControlNetModel, UNet2DConditionModel
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**unet_kwargs)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=_TINY_CONDITIONING)
    # A new net's output convolutions are zero (training starts from "no effect"); random ones, so that the control
    # image changes the picture as a trained net's does.
    torch.nn.init.normal_(net.controlnet_cond_embedding.conv_out.weight, std=1.0)
    for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
        torch.nn.init.normal_(block.weight, std=0.3)
    net.save_pretrained(folder, safe_serialization=safe)
    return folder


def build_controlnet_sd15(folder: Path, safe: bool = True) -> Path:
    """A ControlNet for tiny-sd15 (`safe=False`: pickle weights only, diffusion_pytorch_model.bin, as an old
    download may hold)."""
    return _controlnet(_SD15_UNET, folder, safe)


def build_controlnet_sdxl(folder: Path, safe: bool = True) -> Path:
    """A ControlNet for tiny-sdxl (text_time conditioning, as SDXL's nets)."""
    return _controlnet(_SDXL_UNET, folder, safe)


def build_depth(folder: Path) -> Path:
    """A tiny Depth Anything (DINOv2 backbone, DPT head) and its DPT image processor, saved as the
    depth-anything/Depth-Anything-V2-Small-hf snapshot is laid out (config.json, model.safetensors,
    preprocessor_config.json)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor
    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                            image_size=28, patch_size=14, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False, apply_layernorm=True)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=8, patch_size=14,
                                 reassemble_factors=[2, 1], neck_hidden_sizes=[4, 8], fusion_hidden_size=8,
                                 head_hidden_size=4, depth_estimation_type="relative")
    DepthAnythingForDepthEstimation(config).save_pretrained(folder, safe_serialization=True)
    DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=True, ensure_multiple_of=14, do_pad=False,
                      resample=3, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    return folder
