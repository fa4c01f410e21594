"""Train mini-motion the first way (abandoned, attempts/README.md): a tiny text-to-video model (a standard diffusers
WanPipeline folder, the classes of Wan2.1-T2V).

    python -m scripts.mini_motion.attempts.wan --work runs/mini-motion-wan --out runs/mini-motion-wan/export
    python -m scripts.mini_motion.attempts.wan --smoke --work /tmp/mm --out /tmp/mm/model     # seconds, for CI

Data: clips of one mini-shapes object moving (studio.video.motion), 17 frames of 64x64, zh / en captions.
Stages (each resumes from its latest checkpoint in --work when the same command is run again):
1. VAE (AutoencoderKLWan, causal 3D: 4x spatial and 4x temporal compression, 17x64x64x3 <-> 5x16x16x16), on
   whole 17-frame clips (the causal cache carried over four 4-frame chunks drifts unless trained that long;
   --vae-full-from N trains 9-frame windows first) plus single frames (--vae-images; the first frame is encoded
   alone), the object's pixels weighted up in the loss (--fg-weight).
2. Per-channel latents_mean / latents_std of the encoded data, written into the VAE config (WanPipeline
   normalises with them).
3. WanTransformer3DModel + UMT5EncoderModel from scratch, flow matching as Wan's UniPC "flow_prediction"
   expects (x_s = (1 - s) x0 + s noise, target noise - x0, s drawn with the scheduler's shift; the object's latent
   cells weighted up by --latent-fg-weight, as the VAE's pixels are), prompts encoded
   and zero-padded as WanPipeline does, to 32 tokens (TEXT_LENGTH), 10% empty captions (CFG dropout), EMA.
4. Export with the EMA weights (safetensors, fp16 on disk; the studio loads them in fp32 on a CPU),
   training.json, loss.png and a model card.
Everything is seeded: a step's batch depends only on (seed, step), so a resumed run equals an unbroken one.

In two CPU hours no recipe here met the issue's evaluation (best, v7: motion and colour right together in 21.8% of
clips); scripts/mini_motion/probe.py shows what it does not learn (which colour is the object's, where it moves),
and attempts/unet3d.py, the issue's fallback, says the structural reason in its docstring. The shipped recipe is
scripts/mini_motion/train.py's (AnimateDiff).
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scripts.mini_motion.data import renderer, training_clips
from scripts.trainlib import (
    ROOT,
    arguments,
    command,
    log,
    lr_at,
    make_readable,
    n_params,
    optimise,
    plot_losses,
    run_commits,
    run_steps,
    step_generator,
)
from studio.image import shapes
from studio.video import motion


# Prompts are padded to this many (zero) embeddings, as WanPipeline does to max_sequence_length; the tokenizer's
# model_max_length says it, and the studio passes it. Wan's 512 left a caption's ~15 tokens 3% of each
# cross-attention at the start (v1-v4 learned the background but not the object's motion or colour).
TEXT_LENGTH = 32
SPECIALS = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2 as in T5 / UMT5


def parse_args(argv=None):
    p = arguments(__doc__, work="checkpoints, latent cache and logs", out="where the pipeline folder is written",
                  smoke="a few steps on a few clips (CI)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is lent (the recipe is the same)")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the clips to encode")
    p.add_argument("--clips", type=int, default=6000, help="clips encoded for the transformer stage")
    p.add_argument("--vae-steps", type=int, default=3000)
    p.add_argument("--vae-batch", type=int, default=6)
    p.add_argument("--vae-frames", type=int, default=9, help="frames per VAE training window (4k + 1)")
    p.add_argument("--vae-full-from", type=int, default=0,
                   help="from this VAE step on, whole 17-frame clips (short windows alone leave the later latent "
                        "frames, the causal cache past 9 frames, drifting at decode)")
    p.add_argument("--fg-weight", type=float, default=10.0,
                   help="extra weight of the object's pixels in the VAE loss")
    p.add_argument("--vae-full-batch", type=int, default=3)
    p.add_argument("--vae-images", type=int, default=16,
                   help="single frames added to each VAE step, as Wan trains its VAE on images and videos: a clip's "
                        "first frame is encoded alone, and on clips only it was never learned (v5: L1 0.42, the "
                        "other frames 0.08)")
    p.add_argument("--vae-lr", type=float, default=2e-3)
    p.add_argument("--latent-fg-weight", type=float, default=10.0,
                   help="extra weight of the latent cells the object passes through, in the transformer loss")
    p.add_argument("--steps", type=int, default=6000, help="transformer steps")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--flow-shift", type=float, default=3.0)
    p.add_argument("--patch", type=int, default=2,
                   help="spatial patch side of the transformer: 2 on the 4x VAE's 16x16 latents makes 8 px tokens "
                        "(v4's 2 on an 8x VAE made one 16 px token hold the whole object)")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks")
    p.add_argument("--text-layers", type=int, default=2, help="text encoder (UMT5) layers")
    p.add_argument("--image-batch", type=int, default=0,
                   help="single images added to each transformer step, as Wan trains on images and videos: a clip's "
                        "first latent frame is its first frame encoded alone (64 tokens against a clip's 320)")
    args = p.parse_args(argv)
    if args.smoke:
        args.clips, args.vae_steps, args.steps, args.batch, args.vae_batch, args.save_every = 8, 2, 3, 4, 2, 2
        args.vae_images = 2
        args.vae_frames, args.vae_full_from, args.vae_full_batch = 5, 1, 1
    return args


# -- tokenizer -----------------------------------------------------------------------------------
def caption_vocabulary() -> list[str]:
    """Every token a training caption can hold: Chinese characters one each, English words."""
    words = {"a", "an", "on", "shape", "background"} | set("背景上的图形")
    for zh, en in motion.MOTIONS.values():
        words |= {c for phrase in zh for c in phrase} | {w for phrase in en for w in phrase.split()}
    for name, zh in shapes.SHAPES.items():
        words |= {name, *zh}
    for name, (zh, _rgb) in shapes.COLOURS.items():
        words |= {name, *zh}
    return sorted(words)


def build_tokenizer():
    """A word-level tokenizer (T5-style pad / eos / unk); any unknown word or character becomes <unk>."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    vocab = {t: i for i, t in enumerate(SPECIALS + caption_vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    # Lower case, spaces around every CJK character, then split on spaces and punctuation.
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=TEXT_LENGTH)


# -- models --------------------------------------------------------------------------------------
Z_DIM = 16  # Wan2.1's latent channels
SPATIAL = 4  # the VAE's spatial compression


def make_vae():
    from diffusers import AutoencoderKLWan
    # dims 8-16-32: two spatial downsamples (4x; Wan2.1 has three, 8x), both also temporal (4x, as Wan2.1).
    # At 8x this small VAE blurred the object into its background: its round trip kept the object's colour in
    # 10 of 24 clips (v5), which capped the whole model.
    return AutoencoderKLWan(base_dim=8, z_dim=Z_DIM, dim_mult=[1, 2, 4], num_res_blocks=1,
                            temperal_downsample=[True, True], latents_mean=[0.0] * Z_DIM,
                            latents_std=[1.0] * Z_DIM, scale_factor_spatial=SPATIAL)


def make_text_encoder(vocab_size: int, layers: int = 2):
    from transformers import UMT5Config, UMT5EncoderModel
    return UMT5EncoderModel(UMT5Config(vocab_size=vocab_size, d_model=64, d_kv=16, d_ff=128, num_layers=layers,
                                       num_heads=4, relative_attention_num_buckets=16,
                                       relative_attention_max_distance=64, dropout_rate=0.0,
                                       feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
                                       decoder_start_token_id=0))


def make_transformer(patch: int, layers: int = 4):
    from diffusers import WanTransformer3DModel
    # 5x16x16 latents in (1, patch, patch) patches (patch 2: 320 tokens); blocks of width 128 (4 heads of 32).
    return WanTransformer3DModel(patch_size=(1, patch, patch), num_attention_heads=4, attention_head_dim=32,
                                 in_channels=Z_DIM, out_channels=Z_DIM, text_dim=64, freq_dim=256, ffn_dim=256,
                                 num_layers=layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                 rope_max_seq_len=1024)


def make_scheduler(shift: float):
    from diffusers import UniPCMultistepScheduler
    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)


# -- data ----------------------------------------------------------------------------------------
def to_unit(frames_uint8: np.ndarray) -> torch.Tensor:
    """uint8 [B, F, H, W, 3] -> float [B, 3, F, H, W] in [-1, 1] (the VAE's layout)."""
    return torch.from_numpy(frames_uint8).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def vae_batch(args, step: int) -> torch.Tensor:
    """Windows of freshly rendered clips (no held-out pairs); depends only on (seed, step)."""
    rng = random.Random(args.seed * 1_000_003 + step)
    full = step >= args.vae_full_from
    frames = motion.FRAMES if full else args.vae_frames
    windows = []
    for _ in range(args.vae_full_batch if full else args.vae_batch):
        start = rng.randrange(motion.FRAMES - frames + 1)
        windows.append(motion.render(motion.random_clip(rng))[start:start + frames])
    return to_unit(np.stack(windows))


def vae_images(args, step: int) -> torch.Tensor:
    """Single frames at random times of fresh clips, as 1-frame clips [B, 3, 1, H, W]."""
    rng = random.Random(args.seed * 1_000_033 + step)
    frames = [np.asarray(motion.render_frame(motion.random_clip(rng), rng.random())) for _ in range(args.vae_images)]
    return to_unit(np.stack(frames)[:, None])


# -- stage 1: VAE --------------------------------------------------------------------------------
def foreground(x: torch.Tensor) -> torch.Tensor:
    """[B, 1, F, H, W]: 1 where a pixel differs from the clip's plain background (its top-left corner)."""
    background = x[:, :, :1, :1, :1]
    return ((x - background).abs().sum(1, keepdim=True) > 0.1).float()


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor, fg_weight: float) -> torch.Tensor:
    """MSE + L1 with the moving object's pixels weighted up: it covers ~5% of a frame, and unweighted the VAE
    learns to return the background alone (the object fades after the first latent frame)."""
    weight = 1.0 + fg_weight * foreground(x)
    per_pixel = (rec - x).pow(2) + 0.5 * (rec - x).abs()
    return (weight * per_pixel).sum() / (weight.sum() * x.shape[1])


def train_vae(args):
    vae = make_vae().to(args.device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    vae.train()

    def round_trip_loss(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g).to(args.device)
        return reconstruction_loss(vae.decode(z).sample, x, args.fg_weight) + 1e-6 * posterior.kl().mean()

    def step_fn(step: int) -> float:
        g = step_generator(args.seed, 1, step)
        loss = round_trip_loss(vae_batch(args, step).to(args.device), g)
        if args.vae_images:
            loss = loss + round_trip_loss(vae_images(args, step).to(args.device), g)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.vae_steps, args.vae_lr, warmup=min(200, args.vae_steps // 10 + 1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    state = run_steps(args, "vae", args.vae_steps, args.work / "vae", {"vae": vae}, optimizer, step_fn)
    vae.eval()
    return vae, state


# -- stage 2: latents and their statistics -------------------------------------------------------
@torch.no_grad()
def encode_all(args, vae, clips: list[motion.Clip]) -> tuple[torch.Tensor, list[float], list[float]]:
    """Posterior means of all training clips [N, C, 5, 8, 8] and per-channel mean / std (cached)."""
    cache = args.work / f"latents-{args.clips}-{args.seed}-{args.vae_steps}.pt"
    if cache.exists():
        data = torch.load(cache, weights_only=True)
        return data["latents"], data["mean"].tolist(), data["std"].tolist()
    started, chunks = time.time(), []
    with renderer(args.workers) as render:
        for i in range(0, len(clips), 32):
            frames = render(clips[i:i + 32])
            chunks.append(vae.encode(to_unit(frames).to(args.device)).latent_dist.mean.cpu())
            if (i // 32) % 20 == 19:
                log(args.work, f"encoded {i + 32}/{len(clips)} clips ({time.time() - started:.0f} s)")
    latents = torch.cat(chunks)
    mean, std = latents.mean(dim=(0, 2, 3, 4)), latents.std(dim=(0, 2, 3, 4))
    torch.save({"latents": latents, "mean": mean, "std": std}, cache)
    log(args.work, f"encoded {len(clips)} clips in {time.time() - started:.0f} s; latent std per channel "
              f"{[round(s, 3) for s in std.tolist()]}")
    return latents, mean.tolist(), std.tolist()


def latent_masks(clips: list[motion.Clip], workers: int = 1) -> torch.Tensor:
    """[N, 1, 5, 16, 16]: 1 on the latent cells the object covers, on the VAE's grid (the first frame alone, then
    groups of 4 frames; SPATIAL x SPATIAL pixel blocks). Re-rendered from the clips, so the latent cache needs no
    change."""
    masks = []
    with renderer(workers) as render:
        for i in range(0, len(clips), 256):
            fg = foreground(to_unit(render(clips[i:i + 256])))  # [B, 1, 17, 64, 64]
            first = F.max_pool3d(fg[:, :, :1], (1, SPATIAL, SPATIAL))
            rest = F.max_pool3d(fg[:, :, 1:], (4, SPATIAL, SPATIAL))
            masks.append(torch.cat([first, rest], dim=2))
    return torch.cat(masks)


def flow_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, fg_weight: float) -> torch.Tensor:
    """MSE with the object's latent cells weighted up: the object is ~5% of a latent frame, and unweighted the
    transformer learns the background (right every time) but not the object's colour, shape or path (v3)."""
    weight = 1.0 + fg_weight * mask
    return (weight * (pred - target).pow(2)).sum() / (weight.sum() * pred.shape[1])


# -- stage 3: transformer + text encoder ---------------------------------------------------------
def encode_text(tokenizer, text_encoder, captions: list[str], device: str = "cpu") -> torch.Tensor:
    """WanPipeline._get_t5_prompt_embeds with gradients: the same cleaning, eos, mask and zero padding to 512
    (the encoder itself sees only the longest caption's length; masked, its outputs are the same)."""
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean
    inputs = tokenizer([prompt_clean(c) for c in captions], padding="longest", max_length=TEXT_LENGTH,
                       truncation=True, add_special_tokens=True, return_attention_mask=True,
                       return_tensors="pt").to(device)
    hidden = text_encoder(inputs.input_ids, inputs.attention_mask).last_hidden_state
    hidden = hidden * inputs.attention_mask[..., None]
    return F.pad(hidden, (0, 0, 0, TEXT_LENGTH - hidden.shape[1]))


def sample_sigmas(args, g: torch.Generator, n: int | None = None) -> torch.Tensor:
    """Noise levels s in (0, 1) with the scheduler's shift (Wan's timestep = 1000 s), as sampling visits them."""
    u = torch.rand(n or args.batch, generator=g)
    return args.flow_shift * u / (1 + (args.flow_shift - 1) * u)


def train_transformer(args, clips, latents: torch.Tensor, mean: list[float], std: list[float], tokenizer):
    torch.manual_seed(args.seed)
    transformer = make_transformer(args.patch, args.layers)
    text_encoder = make_text_encoder(len(tokenizer), args.text_layers)
    ema_transformer, ema_text = (make_transformer(args.patch, args.layers),
                                 make_text_encoder(len(tokenizer), args.text_layers))
    ema_transformer.load_state_dict(transformer.state_dict())
    ema_text.load_state_dict(text_encoder.state_dict())
    for module in (transformer, text_encoder, ema_transformer, ema_text):
        module.to(args.device)
    params = list(transformer.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    modules = {"transformer": transformer, "text_encoder": text_encoder, "ema_transformer": ema_transformer,
               "ema_text_encoder": ema_text}
    shift = torch.tensor(mean).view(1, -1, 1, 1, 1).to(args.device)
    scale = torch.tensor(std).view(1, -1, 1, 1, 1).to(args.device)
    masks = latent_masks(clips, args.workers) if args.latent_fg_weight \
        else torch.zeros(len(clips), 1, *latents.shape[2:])
    latents, masks = latents.to(args.device), masks.to(args.device)

    def flow_step(idx: torch.Tensor, frames: int, g: torch.Generator, rng: random.Random) -> torch.Tensor:
        """The flow-matching loss of clips `idx`, on their first `frames` latent frames."""
        captions = ["" if rng.random() < 0.1 else motion.caption(clips[i], rng) for i in idx.tolist()]
        x0 = ((latents[idx] - shift) / scale)[:, :, :frames]
        noise = torch.randn(x0.shape, generator=g).to(args.device)
        s = sample_sigmas(args, g, len(idx)).to(args.device)
        xs = (1 - s.view(-1, 1, 1, 1, 1)) * x0 + s.view(-1, 1, 1, 1, 1) * noise
        context = encode_text(tokenizer, text_encoder, captions, args.device)
        pred = transformer(xs, s * 1000, context).sample
        return flow_loss(pred, noise - x0, masks[idx][:, :, :frames], args.latent_fg_weight)

    def step_fn(step: int) -> float:
        g = step_generator(args.seed, 2, step)
        rng = random.Random(args.seed * 7919 + step)
        loss = flow_step(torch.randint(0, len(clips), (args.batch,), generator=g), latents.shape[2], g, rng)
        total = loss
        if args.image_batch:  # drawn after the clips: the video part of each batch is the same as without images
            idx = torch.randint(0, len(clips), (args.image_batch,), generator=g)
            total = loss + flow_step(idx, 1, g, rng)
        optimise(optimizer, total, params, lr_at(step, args.steps, args.lr), step,
                 [(ema_transformer, transformer), (ema_text, text_encoder)])
        return loss.item()  # the clips' loss alone, comparable between runs with and without images

    transformer.train()
    text_encoder.train()
    state = run_steps(args, "transformer", args.steps, args.work / "transformer", modules, optimizer, step_fn)
    return ema_transformer.eval(), ema_text.eval(), state


# -- stage 4: export -----------------------------------------------------------------------------
def pipeline(tokenizer, text_encoder, vae, transformer, mean, std, flow_shift: float):
    """The WanPipeline of trained parts, with the latent statistics WanPipeline normalises by in the VAE's config
    (the export, and evaluate.py on a checkpoint)."""
    from diffusers import WanPipeline
    vae.register_to_config(latents_mean=[round(m, 5) for m in mean], latents_std=[round(s, 5) for s in std])
    return WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=make_scheduler(flow_shift))


def export(args, vae, transformer, text_encoder, tokenizer, mean, std, vae_state, dit_state) -> None:
    for module in (vae, transformer, text_encoder):
        module.to("cpu")
    pipe = pipeline(tokenizer, text_encoder, vae, transformer, mean, std, args.flow_shift)
    for module in (vae, transformer, text_encoder):
        to_half(module)  # half the bytes on disk; the studio loads it in fp32 on a CPU (the VAE always)
    pipe.save_pretrained(args.out, safe_serialization=True)
    record = {"command": args.command, "commit": args.commits, "seed": args.seed, "clips": args.clips,
              "vae_steps": args.vae_steps, "vae_batch": args.vae_batch, "vae_frames": args.vae_frames,
              "vae_full_from": args.vae_full_from, "vae_full_batch": args.vae_full_batch,
              "vae_images": args.vae_images, "vae_lr": args.vae_lr, "fg_weight": args.fg_weight,
              "latent_fg_weight": args.latent_fg_weight,
              "steps": args.steps, "batch": args.batch, "lr": args.lr, "flow_shift": args.flow_shift,
              "patch": args.patch, "layers": args.layers, "text_layers": args.text_layers,
              "image_batch": args.image_batch,
              "threads": args.threads, "device": args.device, "vae_seconds": round(vae_state["seconds"]),
              "transformer_seconds": round(dit_state["seconds"]),
              "params": {"vae": n_params(vae), "transformer": n_params(transformer),
                         "text_encoder": n_params(text_encoder)},
              "final_vae_loss": float(np.mean(vae_state["losses"][-100:])),
              "final_transformer_loss": float(np.mean(dit_state["losses"][-200:]))}
    (args.out / "training.json").write_text(json.dumps(record, indent=2))
    plot_losses(args.out / "loss.png", [(vae_state["losses"], "VAE reconstruction"),
                                         (dit_state["losses"], "Transformer flow-matching MSE")])
    write_card(args.out, record)
    make_readable(args.out)


CARD = """# mini-motion

A tiny text-to-video model of this project (built-in, offline): one shape of mini-shapes moving on a plain
background, 17 frames of 64x64, prompts in Chinese or English, e.g. `蓝色背景上的红色圆形从左向右移动`,
`a red circle moving from left to right on a blue background`. A standard diffusers `WanPipeline` folder with
the classes of Wan2.1-T2V (UMT5 text encoder, causal 3D Wan VAE, Wan transformer, UniPC flow scheduler), so
every control of the video tab means what it means for Wan.

- Data: {clips} rendered clips (`studio/video/motion.py`): 4 shapes, 8 colours, 6 motions (left to right, right to
  left, falling, rising, growing, shrinking), jittered paths; captions leave out shape / colour / background
  with probability 0.3 (then they are random), 10% empty captions for classifier-free guidance. The shape-colour
  pairs {held_out} never occur in training.
- Architecture: VAE {vae:,} parameters (17x64x64x3 <-> 5x16x16x16), transformer {transformer:,} ({layers} blocks, width
  128, patches 1x{patch}x{patch}: {tokens} tokens), text encoder {text_encoder:,} (UMT5, {text_layers} layers, \
word-level tokenizer; any other
  word is `<unk>`). Weights stored in fp16.
- Training: `{command}` at commit `{commit}`: VAE {vae_steps} steps ({vae_seconds} s; {vae_frames}-frame windows of
  batch {vae_batch} until step {vae_full_from}, then whole clips of batch {vae_full_batch}, with {vae_images} single
  frames each step; learning rate {vae_lr:g}; object pixels weighted x{fg_weight:g} more), transformer {steps} \
steps of batch {batch} (the object's latent cells weighted
  x{latent_fg_weight:g} more; {transformer_seconds} s), on {where}; final losses VAE {final_vae_loss:.4f},
  flow matching {final_transformer_loss:.4f} (`loss.png`).
- Evaluation: `python -m scripts.mini_motion.evaluate <this folder>` (motion, colour, background read back
  by `studio.video.motion.analyse`).
- Limits: 64x64 and 17 frames (other 4k+1 lengths run but were not trained); one object, six straight motions;
  prompts are padded to 32 tokens (its tokenizer's `model_max_length`), not Wan's 512: pass
  `max_sequence_length=32` to the pipeline (the studio and its 查看代码 script do).
"""


def write_card(out: Path, record: dict) -> None:
    held_out = ", ".join(f"{colour} {shape}" for shape, colour in sorted(motion.HELD_OUT))
    tokens = 5 * (64 // SPATIAL // record["patch"]) ** 2
    device = record.get("device", "cpu")
    where = f"{record['threads']} CPU threads" if device == "cpu" else device
    card = CARD.format(held_out=held_out, tokens=tokens, where=where, **record, **record["params"])
    (out / "README.md").write_text(card, encoding="utf-8")


def to_half(module: torch.nn.Module) -> None:
    """fp16 except the parts the class keeps in fp32 (Wan's norms, time embedder, modulation tables), as
    from_pretrained(dtype=float16) would load them."""
    keep = getattr(module, "_keep_in_fp32_modules", None) or []
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if tensor.is_floating_point() and not any(k in name.split(".") for k in keep):
            tensor.data = tensor.data.half()


def main(argv=None) -> None:
    args = parse_args(argv)
    args.command = command("scripts.mini_motion.attempts.wan", argv)  # for training.json and the card
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    args.commits = run_commits(args.work, ROOT)
    # evaluate.py rebuilds a checkpoint's modules from these settings
    (args.work / "args.json").write_text(json.dumps({"argv": sys.argv[1:] if argv is None else list(argv)}))
    tokenizer = build_tokenizer()
    vae, vae_state = train_vae(args)
    clips = training_clips(args)
    latents, mean, std = encode_all(args, vae, clips)
    transformer, text_encoder, dit_state = train_transformer(args, clips, latents, mean, std, tokenizer)
    export(args, vae, transformer, text_encoder, tokenizer, mean, std, vae_state, dit_state)
    log(args.work, f"exported to {args.out}")


if __name__ == "__main__":
    main()
