"""Train mini-shapes: a tiny latent-diffusion model (a standard diffusers StableDiffusionPipeline folder).

    python -m scripts.mini_shapes.train --work runs/mini-shapes --out assets/models/mini-shapes
    python -m scripts.mini_shapes.train --smoke --work /tmp/ms --out /tmp/ms/model     # seconds, for CI

(from the repository root)

Stages (each resumes from its latest checkpoint in --work when the same command is run again):
1. VAE (AutoencoderKL, 64x64x3 <-> 16x16x4) on rendered shapes.
2. Optional decoder hardening (--decoder-steps): the encoder frozen, the decoder also learns to draw stretched
   latents (guidance overshoot).
3. UNet2DConditionModel + CLIPTextModel from scratch on the VAE's latents, v prediction (or epsilon), with
   10% empty captions by default (classifier-free-guidance dropout, --uncond), EMA of the weights; optionally
   captions that name a wrong attribute now and then (--caption-noise), so that the prompt is followed only with
   guidance, as with a model trained on real captions.
4. Export with the EMA weights as a StableDiffusionPipeline folder (safetensors, fp16 on disk).
Everything is seeded: a step's batch depends only on (seed, step), so a resumed run equals an unbroken one.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scripts.trainlib import (
    ROOT,
    arguments,
    command,
    load_checkpoint,
    log,
    lr_at,
    machine,
    make_readable,
    naming_head,
    naming_loss,
    optimise,
    plot_losses,
    run_commits,
    save_checkpoint,
    step_generator,
    timesteps,
    tokenize,
    weighted_mse,
)
from studio.image import shapes


TOKENIZER = ROOT / "assets" / "pipelines" / "sd15" / "tokenizer"
SCHEDULER = ROOT / "assets" / "pipelines" / "sd15" / "scheduler"


def parse_args(argv=None):
    p = arguments(__doc__, work="checkpoints, data cache and logs", out="where the pipeline folder is written",
                  smoke="a few steps on a few images (CI)")
    p.add_argument("--images", type=int, default=24000, help="rendered training images")
    p.add_argument("--vae-steps", type=int, default=3000)
    p.add_argument("--unet-steps", type=int, default=9000)
    p.add_argument("--vae-batch", type=int, default=16)
    p.add_argument("--decoder-steps", type=int, default=1500,
                   help="decoder hardening after the VAE (0: none, as v5): the encoder frozen, the decoder "
                        "also shown stretched latents")
    p.add_argument("--decoder-stretch", type=float, default=1.8,
                   help="latents are stretched away from the data's mean latent by up to this factor in hardening")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--unet-channels", default="32,64,96",
                   help="the UNet's block widths, highest resolution first (v5: 32,64,64)")
    p.add_argument("--text-time-embedding", action=argparse.BooleanOptionalAction, default=False,
                   help="also add an attention-pooled prompt vector to the UNet's time embedding (diffusers' "
                        "addition_embed_type='text'), so every ResNet block hears the prompt, not only the "
                        "cross-attention layers. A fine-tuning run (--init-from) takes it from the folder it starts "
                        "from")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--prediction", choices=["v_prediction", "epsilon"], default="v_prediction",
                   help="what the UNet predicts; v gives colours and layout (decided at high noise) a strong signal")
    p.add_argument("--high-noise", type=float, default=0.5,
                   help="share of each batch trained at the noisiest fifth of timesteps, where layout is decided")
    p.add_argument("--zero-snr", action=argparse.BooleanOptionalAction, default=True,
                   help="rescale the noise schedule to zero terminal SNR and sample with trailing timesteps (Lin et "
                        "al. 2023); without it the UNet reads layout from the noise, not the prompt")
    p.add_argument("--colour-codes", type=float, default=0.0,
                   help="radius of fixed latent codes for the eight colours (0: off, as v7): the VAE also learns to "
                        "put the latent cells inside the shape and inside the background on their colour's code, the "
                        "palette on the corners of a 4-D cross-polytope, every colour equally far from every other. "
                        "v7's own latents put orange between red and yellow, 1.9 from each, and guidance at CFG 12 "
                        "pushed orange on into yellow. Not yet shown to remove that: a 3000-step probe learnt no "
                        "layout")
    p.add_argument("--vae-fg-weight", type=float, default=10.0,
                   help="extra weight of the shape's pixels in the VAE loss; unweighted, a round trip kept the "
                        "colour and place but blurred squares and stars into blobs (its shape read back 50%%)")
    p.add_argument("--fg-weight", type=float, default=10.0,
                   help="extra loss weight of the latent cells the shape covers; unweighted, the UNet learned the "
                        "background (~90%% of the cells) from the prompt but not the shape's colour, kind or place")
    p.add_argument("--shape-aux", type=float, default=0.1,
                   help="weight of a shape-naming loss on the text encoder (a linear head on its pooled output, "
                        "dropped at export). Without it the encoder merged circle and square (5%% apart, against 42%% "
                        "for red and green): the same picture for both prompts, shape read back 52%% (0: off)")
    p.add_argument("--uncond", type=float, default=0.1,
                   help="share of captions left empty, so the same UNet also learns the unconditional prediction "
                        "that classifier-free guidance and negative prompts subtract")
    p.add_argument("--caption-noise", type=float, default=0.0,
                   help="chance that an attribute a caption names is a wrong one, as in web captions. Trained on "
                        "exact captions the model follows them without guidance, so CFG has nothing to add")
    p.add_argument("--noisy-attributes", default=",".join(WRONG_CHOICES),
                   help="the attributes --caption-noise may get wrong. Size is best left exact: with 15%% of sizes "
                        "wrong the model stopped following it (81%% read back at CFG 7, 80%% at 12)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="start the UNet and text encoder from this pipeline folder (fine-tuning) instead of scratch")
    args = p.parse_args(argv)
    unknown = set(args.noisy_attributes.split(",")) - set(WRONG_CHOICES)
    if unknown:
        p.error(f"--noisy-attributes: unknown {', '.join(sorted(unknown))} (known: {', '.join(WRONG_CHOICES)})")
    if args.smoke:
        args.images, args.vae_steps, args.unet_steps, args.batch, args.vae_batch, args.save_every = 64, 3, 3, 8, 4, 2
        args.decoder_steps = 3
    return args


# -- noise schedule ------------------------------------------------------------------------------
def scheduler_options(args) -> dict:
    """Config overrides shared by the training scheduler and the exported one.

    SD 1.5's schedule ends at alpha_bar = 0.0047: at t = 999 the UNet still sees a trace of the picture, so
    it learns to take position and shape from x_t. At sampling x_T is pure noise, so position and shape
    followed the seed, not the prompt (same seed, "left" or "right": same place; v1's shape 30%, position
    32%). Zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed")
    leaves the prompt as the only source of layout. The betas go into the config as `trained_betas`, which
    every diffusers sampler honours (only some know `rescale_betas_zero_snr`); the last alpha_bar is 2^-24,
    not 0, as diffusers' Euler does, so that sigma-based samplers get a finite sigma_max (4096)."""
    options = {"prediction_type": args.prediction}
    if args.zero_snr:
        options.update(trained_betas=zero_snr_betas().tolist(), timestep_spacing="trailing")
    return options


def zero_snr_betas() -> torch.Tensor:
    from diffusers import DDPMScheduler
    from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr
    betas = rescale_zero_terminal_snr(DDPMScheduler.from_pretrained(SCHEDULER).betas.double())
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    alphas_cumprod[-1] = 2.0 ** -24
    return 1 - alphas_cumprod / torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])


# -- models --------------------------------------------------------------------------------------
def make_vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=shapes.SIZE,
                         down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                         block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8)


def make_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel
    return CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                                        num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406,
                                        eos_token_id=49407, pad_token_id=49407, projection_dim=64))


def make_unet(channels: str = "32,64,96", text_time: bool = False):
    from diffusers import UNet2DConditionModel
    pooled = {"addition_embed_type": "text", "addition_embed_type_num_heads": 4} if text_time else {}
    return UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=tuple(int(c) for c in channels.split(",")),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=64, attention_head_dim=8, norm_num_groups=8, **pooled)


# -- data ----------------------------------------------------------------------------------------
def dataset(args) -> tuple[list[shapes.Spec], torch.Tensor]:
    """Rendered images as uint8 [N, 3, 64, 64], cached in the work folder."""
    cache = args.work / f"images-{args.images}-{args.seed}.npz"
    rng = random.Random(args.seed)
    specs = [shapes.random_spec(rng) for _ in range(args.images)]
    if cache.exists():
        return specs, torch.from_numpy(np.load(cache)["images"])
    images = np.stack([np.asarray(shapes.render(s)).transpose(2, 0, 1) for s in specs])
    np.savez(cache, images=images)
    return specs, torch.from_numpy(images)


def to_unit(batch_uint8: torch.Tensor) -> torch.Tensor:
    return batch_uint8.float() / 127.5 - 1.0


def foreground(images_uint8: torch.Tensor) -> torch.Tensor:
    """[N, 1, 64, 64]: 1 on the shape's pixels; the background is plain, so they differ from the top-left corner."""
    x = images_uint8.float()
    return ((x - x[:, :, :1, :1]).abs().sum(1, keepdim=True) > 30).float()


def latent_masks(images: torch.Tensor) -> torch.Tensor:
    """[N, 1, 16, 16]: 1 on the latent cells (4 x 4 pixels) the shape touches."""
    return torch.cat([F.max_pool2d(foreground(images[i:i + 1024]), 4) for i in range(0, len(images), 1024)])


def interior_masks(images_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 1, 16, 16] twice: the latent cells entirely on the shape, and those entirely on the background
    (cells on the outline are left free to carry the outline)."""
    fg = foreground(images_uint8)
    return 1 - F.max_pool2d(1 - fg, 4), 1 - F.max_pool2d(fg, 4)


# Each colour on one end of one latent axis. Orange and yellow, the pair that high CFG confused, are opposite;
# any two others are sqrt(2) radii apart, so guidance pushing a colour away from the rest moves it along its own axis.
COLOUR_AXES = {"orange": (0, 1), "yellow": (0, -1), "red": (1, 1), "white": (1, -1),
               "green": (2, 1), "blue": (2, -1), "purple": (3, 1), "black": (3, -1)}


def colour_codes(radius: float) -> torch.Tensor:
    """[8, 4]: the latent code of each colour, rows in `shapes.COLOURS` order."""
    codes = torch.zeros(len(shapes.COLOURS), 4)
    for row, name in enumerate(shapes.COLOURS):
        axis, sign = COLOUR_AXES[name]
        codes[row, axis] = sign * radius
    return codes


def colour_indices(specs: list[shapes.Spec]) -> torch.Tensor:
    """[N, 2]: each picture's shape colour and background colour, as rows of `colour_codes`."""
    names = list(shapes.COLOURS)
    return torch.tensor([[names.index(s.colour), names.index(s.background)] for s in specs])


def code_loss(mean: torch.Tensor, images_uint8: torch.Tensor, colours: torch.Tensor, codes: torch.Tensor):
    """Mean squared distance of the interior latent cells from their colour's code."""
    inside, outside = interior_masks(images_uint8)
    target = inside * codes[colours[:, 0], :, None, None] + outside * codes[colours[:, 1], :, None, None]
    mask = inside + outside
    return (mask * (mean - target).pow(2)).sum() / (mask.sum() * mean.shape[1]).clamp(min=1)


# -- checkpoints ---------------------------------------------------------------------------------
def resume(folder: Path, modules: dict, optimizer) -> tuple[int, list[float], float | None]:
    """Step, losses and training seconds of a stage's latest checkpoint (trainlib's: whole or not there after a
    kill), weights and optimizer loaded in place; seconds None: written before stages timed themselves."""
    state = load_checkpoint(folder, modules, optimizer)
    return state["step"], state["losses"], state.get("seconds")


def checkpoint(args, name: str, total: int, folder: Path, modules: dict, optimizer, step: int, losses: list[float],
               seconds, tick: float):
    """Save and log a stage's checkpoint; returns the stage's training seconds: the wall time of its spells between
    checkpoints summed over every run that resumed it (start-up left out; a paused process still counts)."""
    seconds = None if seconds is None else seconds + time.time() - tick
    save_checkpoint(folder, modules, optimizer, {"step": step, "losses": losses, "seconds": seconds})
    spent = "time unknown" if seconds is None else f"{seconds:.0f} s"
    log(args.work, f"{name} step {step}/{total} loss {np.mean(losses[-args.save_every:]):.4f} ({spent})")
    return seconds


# -- stage 1: VAE --------------------------------------------------------------------------------
def train_vae(args, images: torch.Tensor, colours: torch.Tensor):
    vae = make_vae()
    codes = colour_codes(args.colour_codes)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    folder = args.work / "vae"
    step, losses, seconds = resume(folder, {"vae": vae}, optimizer)
    tick = time.time()
    vae.train()
    while step < args.vae_steps:
        g = step_generator(args.seed, 1, step)
        idx = torch.randint(0, len(images), (args.vae_batch,), generator=g)
        x = to_unit(images[idx])
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g)
        rec = vae.decode(z).sample
        weight = 1.0 + args.vae_fg_weight * foreground(images[idx])
        error = (rec - x).pow(2) + 0.5 * (rec - x).abs()
        loss = (weight * error).sum() / (weight.sum() * 3) + 1e-6 * posterior.kl().mean()
        if args.colour_codes:
            loss = loss + code_loss(posterior.mean, images[idx], colours[idx], codes)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.vae_steps, 1e-3)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % args.save_every == 0 or step == args.vae_steps:
            seconds = checkpoint(args, "vae", args.vae_steps, folder, {"vae": vae}, optimizer, step, losses, seconds,
                                 tick)
            tick = time.time()
    vae.eval()
    return vae, losses, seconds


@torch.no_grad()
def encode_all(args, vae, images: torch.Tensor) -> tuple[torch.Tensor, float]:
    cache = args.work / "latents.pt"
    if cache.exists():
        data = torch.load(cache, weights_only=True)
        return data["latents"], float(data["scale"])
    latents = torch.cat([vae.encode(to_unit(images[i:i + 256])).latent_dist.mean for i in range(0, len(images), 256)])
    scale = float(1.0 / latents.std())
    torch.save({"latents": latents, "scale": torch.tensor(scale)}, cache)
    return latents, scale


# -- stage 2: decoder hardening ------------------------------------------------------------------
def stretch(z: torch.Tensor, centre: torch.Tensor, most: float, g: torch.Generator) -> torch.Tensor:
    """Three in four latents pushed away from `centre` by a factor in [1, most] (each channel +-10% more or less),
    the rest unchanged: what classifier-free guidance does to the sampled latents (at CFG 7 the mini model's latents
    spread 1.15x wider than the data's, at 12 1.24x)."""
    n = z.shape[0]
    factor = 1 + (most - 1) * torch.rand(n, 1, 1, 1, generator=g)
    factor = factor * (1 + 0.1 * (2 * torch.rand(n, z.shape[1], 1, 1, generator=g) - 1))
    keep = torch.rand(n, 1, 1, 1, generator=g) >= 0.75
    return torch.where(keep, z, centre + factor * (z - centre))


def harden_decoder(args, vae, images: torch.Tensor, centre: torch.Tensor):
    """Teach the decoder to draw a stretched latent as the clean picture. Guidance overshoots the latents a sampler
    ends on; a decoder that only ever saw the encoder's latents turns the overshoot into hue shifts (orange drawn
    red) and halos. The encoder is frozen, so the latents the UNet learns from are the same with or without this."""
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.0)
    folder = args.work / "decoder"
    step, losses, seconds = resume(folder, {"vae": vae}, optimizer)
    vae.requires_grad_(False)
    for param in params:
        param.requires_grad_(True)
    tick = time.time()
    while step < args.decoder_steps:
        g = step_generator(args.seed, 3, step)
        idx = torch.randint(0, len(images), (args.vae_batch,), generator=g)
        x = to_unit(images[idx])
        with torch.no_grad():
            posterior = vae.encode(x).latent_dist
            z = stretch(posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=g), centre,
                        args.decoder_stretch, g)
        rec = vae.decode(z).sample
        weight = 1.0 + args.vae_fg_weight * foreground(images[idx])
        loss = (weight * ((rec - x).pow(2) + 0.5 * (rec - x).abs())).sum() / (weight.sum() * 3)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.decoder_steps, 3e-4, warmup=50)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % args.save_every == 0 or step == args.decoder_steps:
            seconds = checkpoint(args, "decoder", args.decoder_steps, folder, {"vae": vae}, optimizer, step, losses,
                                 seconds, tick)
            tick = time.time()
    vae.requires_grad_(False)
    vae.eval()
    return vae, losses, seconds


# -- stage 3: UNet + text encoder ----------------------------------------------------------------
WRONG_CHOICES = {"shape": shapes.SHAPES, "colour": shapes.COLOURS, "background": shapes.COLOURS,
                 "size": shapes.SIZES, "position": shapes.POSITIONS}


def mislabel(spec: shapes.Spec, rng: random.Random, chance: float, attributes=tuple(WRONG_CHOICES)) -> shapes.Spec:
    """The spec a noisy caption describes: each of `attributes`, with probability `chance`, another value (never
    the background's colour for the shape, and never a held-out shape-colour pair, which training must not name)."""
    if not chance:
        return spec
    for attribute, values in WRONG_CHOICES.items():
        if attribute not in attributes or rng.random() >= chance:
            continue
        for value in rng.sample(list(values), len(values)):
            wrong = replace(spec, **{attribute: value})
            if (value != getattr(spec, attribute) and wrong.colour != wrong.background
                    and (wrong.shape, wrong.colour) not in shapes.HELD_OUT):
                spec = wrong
                break
    return spec


def train_unet(args, specs, latents: torch.Tensor, scale: float, masks: torch.Tensor):
    from diffusers import DDPMScheduler
    from transformers import CLIPTokenizer
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    # The betas SD 1.5 uses. With epsilon prediction the prompt's effect on the target shrinks with sqrt(alpha_bar)
    # at high noise, where background colour and layout are decided: a first run learned no conditioning in 3000
    # steps. v prediction (as in SD 2.x) keeps that signal strong; every sampler reads it from the config.
    noise_scheduler = DDPMScheduler.from_pretrained(SCHEDULER, **scheduler_options(args))
    torch.manual_seed(args.seed)
    unet, text_encoder = make_unet(args.unet_channels, args.text_time_embedding), make_text_encoder()
    if args.init_from:
        init_from(args.init_from, unet, text_encoder)
    ema_unet, ema_text = make_unet(args.unet_channels, args.text_time_embedding), make_text_encoder()
    ema_unet.load_state_dict(unet.state_dict())
    ema_text.load_state_dict(text_encoder.state_dict())
    params = list(unet.parameters()) + list(text_encoder.parameters())
    modules = {"unet": unet, "text_encoder": text_encoder, "ema_unet": ema_unet, "ema_text_encoder": ema_text}
    head = naming_head(text_encoder, SHAPE_LABELS) if args.shape_aux else None
    if head is not None:
        params += list(head.parameters())
        modules["shape_head"] = head
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    folder = args.work / "unet"
    step, losses, seconds = resume(folder, modules, optimizer)
    noisy = args.noisy_attributes.split(",")
    tick = time.time()
    while step < args.unet_steps:
        g = step_generator(args.seed, 2, step)
        rng = random.Random(args.seed * 7919 + step)
        idx = torch.randint(0, len(specs), (args.batch,), generator=g)
        captions = ["" if rng.random() < args.uncond else
                    shapes.caption(mislabel(specs[i], rng, args.caption_noise, noisy), rng) for i in idx.tolist()]
        x0 = latents[idx] * scale
        noise = torch.randn(x0.shape, generator=g)
        t = timesteps(g, args.batch, noise_scheduler.config.num_train_timesteps, args.high_noise)
        xt = noise_scheduler.add_noise(x0, noise, t)
        context, pooled = text_encoder(tokenize(tokenizer, captions))[:2]
        target = noise if args.prediction == "epsilon" else noise_scheduler.get_velocity(x0, noise, t)
        loss = weighted_mse(unet(xt, t, encoder_hidden_states=context).sample, target, masks[idx], args.fg_weight)
        total = loss
        if head is not None:
            named = [shapes.parse_prompt(c).get("shape") for c in captions]
            total = loss + args.shape_aux * naming_loss(head, pooled, SHAPE_LABELS, named)
        optimise(optimizer, total, params, lr_at(step, args.unet_steps, args.lr), step,
                 [(ema_unet, unet), (ema_text, text_encoder)])
        losses.append(loss.item())
        step += 1
        if step % args.save_every == 0 or step == args.unet_steps:
            seconds = checkpoint(args, "unet", args.unet_steps, folder, modules, optimizer, step, losses, seconds, tick)
            tick = time.time()
    return ema_unet, ema_text, tokenizer, losses, seconds


SHAPE_LABELS = [*shapes.SHAPES, None]  # the four shapes, and "the caption names none"


def init_from(folder: Path, unet, text_encoder) -> None:
    """Fine-tuning: the weights of an exported pipeline (same architecture; fp16 on disk, trained in fp32)."""
    from safetensors.torch import load_file
    for module, file in ((unet, "unet/diffusion_pytorch_model.safetensors"),
                         (text_encoder, "text_encoder/model.safetensors")):
        state = module.state_dict()
        loaded = load_file(folder / file)
        if set(loaded) != set(state):  # load_state_dict below takes only the model's own keys: say so, drop none
            raise SystemExit(f"{folder / file} does not match this UNet / text encoder architecture")
        module.load_state_dict({k: loaded[k].to(v.dtype) for k, v in state.items()})


def uses_text_time(folder: Path) -> bool:
    """Whether an exported pipeline's UNet adds the pooled prompt to its time embedding (--text-time-embedding)."""
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.load_config(folder, subfolder="unet").get("addition_embed_type") == "text"


def load_vae(folder: Path):
    """An exported pipeline's VAE (fp16 on disk) in fp32, frozen, as the studio runs it. Built from its config
    (from_pretrained would add `_name_or_path`, so the exported config.json would no longer be the same file)."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae"))
    vae.load_state_dict(load_file(folder / "vae" / "diffusion_pytorch_model.safetensors"))  # copied into fp32
    return vae.eval().requires_grad_(False)


# -- stage 4: export -----------------------------------------------------------------------------
def export(args, vae, unet, text_encoder, tokenizer, scale: float, vae_losses, decoder_losses, unet_losses,
           seconds: dict) -> None:
    """The pipeline folder, training.json (the run's settings, commits, final losses, and each stage's training
    seconds with the machine it ran on) and the loss curve."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    vae.register_to_config(scaling_factor=scale)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=PNDMScheduler.from_pretrained(SCHEDULER, **scheduler_options(args)),
                                   safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16)  # half the bytes on disk; the studio loads it in fp32 on a CPU
    pipe.save_pretrained(args.out, safe_serialization=True)
    # The tokenizer files training used, as they are: transformers 5 would save only a 3 MB tokenizer.json.
    shutil.rmtree(args.out / "tokenizer")
    shutil.copytree(TOKENIZER, args.out / "tokenizer")
    record = {"command": args.command, "commit": args.commits, "seed": args.seed, "images": args.images,
              "vae_steps": args.vae_steps, "vae_batch": args.vae_batch, "vae_fg_weight": args.vae_fg_weight,
              "colour_codes": args.colour_codes,
              "decoder_steps": args.decoder_steps, "decoder_stretch": args.decoder_stretch,
              "unet_channels": args.unet_channels, "text_time_embedding": args.text_time_embedding,
              "unet_steps": args.unet_steps, "batch": args.batch, "lr": args.lr,
              "prediction": args.prediction, "high_noise": args.high_noise, "zero_snr": args.zero_snr,
              "fg_weight": args.fg_weight, "shape_aux": args.shape_aux, "uncond": args.uncond,
              "caption_noise": args.caption_noise, "noisy_attributes": args.noisy_attributes,
              "init_from": str(args.init_from) if args.init_from else None,
              "latent_scale": scale, "final_vae_loss": float(np.mean(vae_losses[-100:])) if vae_losses else None,
              "final_decoder_loss": float(np.mean(decoder_losses[-100:])) if decoder_losses else None,
              "final_unet_loss": float(np.mean(unet_losses[-200:])),
              "seconds": {stage: None if s is None else round(s, 1) for stage, s in seconds.items()},
              "machine": machine(), "threads": args.threads}
    if args.init_from:  # the record of the run this one continued, so the card can list every stage
        record["init"] = json.loads((args.init_from / "training.json").read_text(encoding="utf-8"))
        copy_earlier_curves(args.init_from, args.out)
    (args.out / "training.json").write_text(json.dumps(record, indent=2))
    plot_losses(args.out / "loss.png", [(vae_losses, "VAE reconstruction"), (decoder_losses, "decoder hardening"),
                                        (unet_losses, f"UNet {args.prediction} MSE")])


def copy_earlier_curves(earlier: Path, out: Path) -> None:
    """The loss curves of the stages before this one, as loss-stage1.png, loss-stage2.png, ... (this one: loss.png)."""
    curves = sorted(earlier.glob("loss-stage*.png"))
    for curve in curves:
        shutil.copy(curve, out / curve.name)
    if (earlier / "loss.png").is_file():
        shutil.copy(earlier / "loss.png", out / f"loss-stage{len(curves) + 1}.png")


def main(argv=None) -> None:
    args = parse_args(argv)
    args.command = command("scripts.mini_shapes.train", argv)  # for training.json
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    args.commits = run_commits(args.work, ROOT)
    specs, images = dataset(args)
    seconds = {}
    if args.init_from:  # fine-tuning: the latents must be the ones the starting UNet learnt, so its VAE is kept
        args.text_time_embedding = uses_text_time(args.init_from)
        vae, vae_losses, decoder_losses = load_vae(args.init_from), [], []
        latents, scale = encode_all(args, vae, images)[0], vae.config.scaling_factor
    else:
        vae, vae_losses, seconds["vae"] = train_vae(args, images, colour_indices(specs))
        latents, scale = encode_all(args, vae, images)
        vae, decoder_losses, seconds["decoder"] = harden_decoder(args, vae, images,
                                                                 latents.mean(dim=(0, 2, 3), keepdim=True))
    unet, text_encoder, tokenizer, unet_losses, seconds["unet"] = train_unet(args, specs, latents, scale,
                                                                             latent_masks(images))
    export(args, vae, unet, text_encoder, tokenizer, scale, vae_losses, decoder_losses, unet_losses, seconds)
    make_readable(args.out)
    log(args.work, f"exported to {args.out}")


if __name__ == "__main__":
    main()
