"""Train mini-motion (the shipped recipe): an AnimateDiff model, mini-shapes' UNet with motion modules
(UNetMotionModel), on mini-shapes' VAE and text encoder, in a diffusers AnimateDiffPipeline folder.

    python -m scripts.mini_motion.train --work runs/mini-motion --out runs/mini-motion/export
    python -m scripts.mini_motion.train --smoke --work /tmp/mm --out /tmp/mm/model     # seconds, for CI

(from the repository root). Two earlier recipes did not reach the evaluation's target; they are kept, with what
they showed, in attempts/ (attempts/README.md): a Wan transformer from scratch (attempts/wan.py) and the issue's
fallback, a 3D UNet inflated from mini-shapes' (attempts/unet3d.py).

Why motion modules, not the 3D UNet: its temporal layers have no frame position. UNet3DConditionModel's temporal
attention has no positional embedding (it treats frames as a set) and its temporal convolutions are the same
forwards and backwards until training makes them not, so it cannot tell the first frame from the last. Measured on
its run at step 3000: the axis of the motion is right (horizontal, vertical or size) but the direction is not:
"right to left" came out left to right in 4 of 5 clips, "falling" as rising in 4 of 7; motion right in 30% of 40
prompts. AnimateDiff's motion modules add sinusoidal frame positions to their temporal attention, so "frame 1
left, frame 8 right" is expressible from the first step. The spatial layers are mini-shapes' own (AnimateDiff's
recipe: a frozen-architecture image model plus motion modules), the motion modules start as the identity (their
output projections zeroed), so training starts from mini-shapes drawing the same picture in every frame.

The text encoder: fine-tuned with the UNet alone (the first run of this recipe, to step 2000, and the 3D UNet's),
it learned to merge what the UNet could not use yet (`python -m scripts.mini_motion.probe RUN --text`): the relative
distance between the prompt embeddings of "moving from left to right" and "... right to left" fell from 12.6%
(mini-shapes') to 2.4%, "moving right" / "moving left" from 10.9% to 2.6%, "falling" / "rising" from 38.4% to
5.8%, while swapped colours stayed 117-119% apart; after that no UNet can tell the directions apart. Frozen (the
second run, ad2), the words stayed apart but the UNet hardly learned to read them: motion right in 1 of 30 clips
at step 1000, 5 of 30 at step 3000 (EMA weights), the direction as often inverted as right ("right to left" came
out left to right 4 of 5). A focused test (motion modules alone at 1e-3, t >= 900, horizontal clips only) moved
the shape "left to right" within 300 steps but not yet "right to left", which differs from it in word order only.
Hence this recipe: the encoder is fine-tuned with an auxiliary loss (--motion-aux: a linear head on its pooled
output names the caption's motion, so the directions must stay apart and word order must count), 70% of each batch
comes from the noisiest fifth of timesteps, where the direction is decided, and only the motion modules are
trained, at 1e-3 (AnimateDiff's own recipe: the spatial layers stay mini-shapes', so a blurred average of every
motion is not an answer they can learn instead). Its recorded run (ad4, the shipped weights): motion right in 7 of
30 clips at step 1000 and 29 of 30 at step 2000 (the training weights, not yet the EMA); the export (EMA, step
4000): motion + colour right in 90.8% of 100 prompts (evaluate.py, the card has the table).

Data: clips of one mini-shapes object moving (studio.video.motion), --frames frames of 64x64, zh / en captions.
Stages (each resumes from its latest checkpoint in --work when the same command is run again):
1. Every clip's frames encoded by mini-shapes' VAE (frozen; a 2D VAE, so frame by frame: 4x16x16 per frame), and
   the latent cells the object covers (its loss is weighted up, as mini-shapes' is).
2. The video UNet (spatial layers from mini-shapes' UNet) and mini-shapes' text encoder, trained together on
   mini-shapes' noise schedule (v prediction, zero terminal SNR, part of each batch at the noisiest timesteps),
   10% empty captions (CFG dropout), EMA.
3. Export with the EMA weights (safetensors, fp16 on disk), training.json, loss.png and a model card.
Everything is seeded: a step's batch depends only on (seed, step), so a resumed run equals an unbroken one.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import sys
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
    naming_head,
    naming_loss,
    optimise,
    plot_losses,
    run_commits,
    run_steps,
    short_commits,
    step_generator,
    timesteps,
    tokenize,
    weighted_mse,
)
from studio.video import motion


SHAPES = ROOT / "assets" / "models" / "mini-shapes"
SAMPLER = "DPM++ 2M"  # the exported scheduler: mini-shapes' default sampler, on its noise schedule
MOTION_LABELS = [*motion.MOTIONS, None]  # what --motion-aux names: the six motions, or "none named"


def parse_args(argv=None, doc: str = __doc__, **defaults):
    """The settings; `defaults` and `doc` are another recipe's (attempts/unet3d.py)."""
    p = arguments(doc, work="checkpoints, latent cache and logs", out="where the pipeline folder is written",
                  smoke="a few steps on a few clips (CI)")
    p.add_argument("--shapes", type=Path, default=SHAPES,
                   help="the mini-shapes pipeline folder whose VAE, text encoder and UNet are reused")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the clips to encode")
    p.add_argument("--clips", type=int, default=6000, help="clips encoded for training")
    p.add_argument("--frames", type=int, default=8, help="frames per clip (the issue's 8-16)")
    # 4000 steps: frame positions make motion quick to learn, and the run fits a session beside its evaluation;
    # 1e-3: twice the 3D UNet's, as only the motion modules are trained; 70% at high noise (mini-shapes: 50%)
    p.add_argument("--steps", type=int, default=4000, help="UNet training steps")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay to 10%%)")
    p.add_argument("--high-noise", type=float, default=0.7,
                   help="share of each batch drawn from the noisiest fifth of timesteps, where the direction of the "
                        "motion is decided")
    p.add_argument("--fg-weight", type=float, default=10.0, help="extra weight of the object's latent cells")
    p.add_argument("--freeze-text", action=argparse.BooleanOptionalAction, default=False,
                   help="keep mini-shapes' text encoder as it is (fine-tuned with the UNet, it merges words the "
                        "UNet cannot use yet, such as left and right, and then the UNet never can)")
    p.add_argument("--freeze-spatial", action=argparse.BooleanOptionalAction, default=True,
                   help="train only the temporal layers (AnimateDiff's recipe); the spatial ones stay mini-shapes'")
    p.add_argument("--motion-aux", type=float, default=0.1,
                   help="weight of an auxiliary loss on the fine-tuned text encoder: a linear head on its pooled "
                        "output names the caption's motion (or none). It keeps the directions apart while the UNet "
                        "cannot use them yet; the head is dropped at export (0: off)")
    p.set_defaults(**defaults)
    args = p.parse_args(argv)
    if args.smoke:
        args.clips, args.steps, args.batch, args.save_every, args.frames = 4, 3, 2, 2, 4
    return args


# -- models --------------------------------------------------------------------------------------
def make_unet(shapes_folder: Path = SHAPES):
    """mini-shapes' UNet2DConditionModel with a motion module (temporal attention with sinusoidal frame
    positions) after every spatial block, the modules starting as the identity."""
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
    unet2d = UNet2DConditionModel.from_pretrained(shapes_folder, subfolder="unet", dtype=torch.float32)
    adapter = MotionAdapter(block_out_channels=tuple(unet2d.config.block_out_channels), motion_layers_per_block=1,
                            motion_num_attention_heads=4, motion_norm_num_groups=8, motion_max_seq_length=32)
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    for name, module in unet.named_modules():
        if name.endswith("motion_modules") or ".motion_modules." in name:
            if hasattr(module, "proj_out"):
                torch.nn.init.zeros_(module.proj_out.weight)
                torch.nn.init.zeros_(module.proj_out.bias)
    return unet


def motion_unet(args):
    """The video UNet to train: mini-shapes' UNet, new motion modules."""
    unet = make_unet(args.shapes)
    modules = sum(p.numel() for n, p in unet.named_parameters() if "motion_modules" in n)
    log(args.work, f"UNetMotionModel: mini-shapes' UNet + motion modules of {modules:,} parameters")
    return unet


def load_shapes(shapes_folder: Path):
    """mini-shapes' VAE (frozen), text encoder (to fine-tune) and tokenizer, in fp32."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer
    vae = AutoencoderKL.from_pretrained(shapes_folder, subfolder="vae", dtype=torch.float32).eval()
    text_encoder = CLIPTextModel.from_pretrained(shapes_folder, subfolder="text_encoder", dtype=torch.float32)
    return vae, text_encoder, CLIPTokenizer.from_pretrained(shapes_folder, subfolder="tokenizer")


def noise_schedule(shapes_folder: Path):
    """mini-shapes' training schedule (v prediction, zero terminal SNR), read from its exported scheduler."""
    from diffusers import DDPMScheduler
    return DDPMScheduler.from_config(json.loads((shapes_folder / "scheduler" / "scheduler_config.json").read_text()))


# -- stage 1: latents ----------------------------------------------------------------------------
def frames_to_batch(frames_uint8: np.ndarray) -> torch.Tensor:
    """uint8 [B, F, H, W, 3] -> [B * F, 3, H, W] in [-1, 1]: a 2D VAE sees frames as images."""
    return torch.from_numpy(frames_uint8).permute(0, 1, 4, 2, 3).flatten(0, 1).float() / 127.5 - 1.0


@torch.no_grad()
def encode_all(args, vae, clips) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled latents [N, 4, F, 16, 16] (fp16) and object masks [N, 1, F, 16, 16] (bool), cached."""
    cache = args.work / f"latents-{args.clips}-{args.seed}-{args.frames}.pt"
    if cache.exists():
        data = torch.load(cache, weights_only=True)
        return data["latents"], data["masks"]
    latents, masks = [], []
    with renderer(args.workers, args.frames) as render:
        for i in range(0, len(clips), 16):
            frames = render(clips[i:i + 16])
            x = frames_to_batch(frames)
            z = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
            latents.append(z.unflatten(0, (-1, args.frames)).transpose(1, 2).half())
            fg = ((x - x[:, :, :1, :1]).abs().sum(1, keepdim=True) > 0.25).float()  # plain background: its corner
            masks.append(F.max_pool2d(fg, 4).unflatten(0, (-1, args.frames)).transpose(1, 2).bool())
    data = {"latents": torch.cat(latents), "masks": torch.cat(masks)}
    torch.save(data, cache)
    log(args.work, f"encoded {len(clips)} clips of {args.frames} frames")
    return data["latents"], data["masks"]


# -- stage 2: video UNet + text encoder ----------------------------------------------------------
# Parameter names of the temporal layers: UNetMotionModel's motion modules (and UNet3DConditionModel's, for
# attempts/unet3d.py).
TEMPORAL = ("motion_modules", "temp_convs", "temp_attentions", "transformer_in")


def train_unet(args, clips, latents, masks, text_encoder, tokenizer, build=motion_unet):
    """The video UNet that `build(args)` makes (its spatial layers mini-shapes'), trained with the text encoder."""
    noise_scheduler = noise_schedule(args.shapes)
    torch.manual_seed(args.seed)
    unet = build(args)
    ema_unet = copy.deepcopy(unet)
    per_frame_text = type(unet).__name__ == "UNetMotionModel"
    ema_text = type(text_encoder)(text_encoder.config)
    ema_text.load_state_dict(text_encoder.state_dict())
    text_encoder.requires_grad_(not args.freeze_text)
    unet.requires_grad_(not args.freeze_spatial)
    for name, p in unet.named_parameters():
        if any(part in name for part in TEMPORAL):
            p.requires_grad_(True)
    params = [p for p in unet.parameters() if p.requires_grad]
    params += [] if args.freeze_text else list(text_encoder.parameters())
    modules = {"unet": unet, "text_encoder": text_encoder, "ema_unet": ema_unet, "ema_text_encoder": ema_text}
    head = naming_head(text_encoder, MOTION_LABELS) if args.motion_aux and not args.freeze_text else None
    if head is not None:
        params += list(head.parameters())
        modules["motion_head"] = head
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)

    def step_fn(step: int) -> float:
        torch.manual_seed(args.seed * 1_000_003 + step)  # the temporal layers' dropout: resumable too
        g = step_generator(args.seed, 2, step)
        rng = random.Random(args.seed * 7919 + step)
        idx = torch.randint(0, len(clips), (args.batch,), generator=g)
        captions = ["" if rng.random() < 0.1 else motion.caption(clips[i], rng) for i in idx.tolist()]
        x0 = latents[idx].float()
        noise = torch.randn(x0.shape, generator=g)
        t = timesteps(g, args.batch, noise_scheduler.config.num_train_timesteps, args.high_noise)
        encoded = text_encoder(tokenize(tokenizer, captions))
        context = encoded[0]
        if per_frame_text:  # AnimateDiff's UNet takes the prompt once per frame (as its pipeline repeats it)
            context = context.repeat_interleave(x0.shape[2], dim=0)
        # With the spatial layers frozen, the first motion module's GroupNorm needs gradients for its weights but
        # not its input, and torch 2.11's CPU backward for that case (channels-last kernel) segfaults: asking for
        # the input's gradient avoids it.
        noisy = noise_scheduler.add_noise(x0, noise, t).requires_grad_(args.freeze_spatial)
        pred = unet(noisy, t, encoder_hidden_states=context).sample
        loss = weighted_mse(pred, noise_scheduler.get_velocity(x0, noise, t), masks[idx].float(), args.fg_weight)
        total = loss
        if head is not None:
            named = [motion.parse_prompt(c).get("motion") for c in captions]
            total = loss + args.motion_aux * naming_loss(head, encoded[1], MOTION_LABELS, named)
        text = [] if args.freeze_text else [(ema_text, text_encoder)]
        optimise(optimizer, total, params, lr_at(step, args.steps, args.lr), step, [(ema_unet, unet), *text])
        return loss.item()

    unet.train()
    text_encoder.train(not args.freeze_text)
    state = run_steps(args, "unet", args.steps, args.work / "unet", modules, optimizer, step_fn)
    return ema_unet.eval(), ema_text.eval(), state


# -- stage 3: export -----------------------------------------------------------------------------
def pipeline(vae, text_encoder, tokenizer, unet, shapes_folder: Path):
    """The AnimateDiffPipeline of trained parts, with mini-shapes' schedule under its default sampler (the
    export, and evaluate.py on a checkpoint). The motion modules live in the UNet: no separate adapter."""
    from diffusers import AnimateDiffPipeline

    from studio.image.samplers import make_scheduler
    scheduler = make_scheduler(SAMPLER, noise_schedule(shapes_folder).config)
    return AnimateDiffPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                               motion_adapter=None, scheduler=scheduler)


def export(args, vae, unet, text_encoder, tokenizer, state, make_pipeline=pipeline, card=None) -> None:
    """The pipeline folder (`make_pipeline`'s), its record and card."""
    pipe = make_pipeline(vae, text_encoder, tokenizer, unet, args.shapes)
    pipe.to(torch.float16)  # half the bytes on disk; the studio loads it in fp32 on a CPU
    pipe.save_pretrained(args.out, safe_serialization=True)
    shutil.rmtree(args.out / "tokenizer")  # mini-shapes' tokenizer files as they are (see mini_shapes/train.py)
    shutil.copytree(args.shapes / "tokenizer", args.out / "tokenizer")
    record = {"command": args.command, "commit": args.commits, "seed": args.seed, "clips": args.clips,
              "frames": args.frames, "steps": args.steps, "batch": args.batch, "lr": args.lr,
              "high_noise": args.high_noise, "fg_weight": args.fg_weight, "threads": args.threads,
              "text_training": text_training(args),
              "spatial_training": "frozen" if args.freeze_spatial else "fine-tuned",
              "unet_seconds": round(state["seconds"]),
              **reused(args.shapes),
              "params": {"vae": n_params(vae), "unet": n_params(unet), "text_encoder": n_params(text_encoder)},
              "final_unet_loss": float(np.mean(state["losses"][-200:]))}
    (args.out / "training.json").write_text(json.dumps(record, indent=2))
    plot_losses(args.out / "loss.png", [(state["losses"], f"{type(unet).__name__} v-prediction MSE")])
    write_card(args.out, record, card or CARD)
    make_readable(args.out)


def text_training(args) -> str:
    """What happened to mini-shapes' text encoder, in the card's words."""
    if args.freeze_text:
        return "frozen"
    aux = f" with a motion-naming loss of weight {args.motion_aux:g} (its head dropped)" if args.motion_aux else ""
    return "fine-tuned" + aux


def reused(shapes_folder: Path) -> dict:
    """The mini-shapes run whose parts this model starts from: retrained later, mini-shapes is another model."""
    run = json.loads((shapes_folder / "training.json").read_text())
    return {"reused": run["command"], "reused_commit": short_commits(run["commit"])}


CARD = """# mini-motion

A tiny text-to-video model of this project (built-in, offline): one shape of mini-shapes moving on a plain
background, {frames} frames of 64x64, prompts in Chinese or English, e.g. `蓝色背景上的红色圆形从左向右移动`,
`a red circle moving from left to right on a blue background`. A standard diffusers `AnimateDiffPipeline` folder
(AnimateDiff: a Stable Diffusion UNet with motion modules, here mini-shapes' own).

- Data: {clips} rendered clips (`studio/video/motion.py`): 4 shapes, 8 colours, 6 motions (left to right, right to
  left, falling, rising, growing, shrinking), jittered paths; captions leave out shape / colour / background
  with probability 0.3 (then they are random), 10% empty captions for classifier-free guidance. The shape-colour
  pairs {held_out} never occur in training.
- Architecture: mini-shapes' VAE ({vae:,} parameters, frozen, frame by frame: 64x64x3 <-> 16x16x4) and text
  encoder ({text_encoder:,}, {text_training}); UNetMotionModel {unet:,} parameters: mini-shapes' UNet \
(`{reused}` at commit `{reused_commit}`)
  with motion modules (temporal attention with sinusoidal frame positions) trained here, its spatial layers \
{spatial_training}. Weights stored in fp16.
- Training: `{command}` at commit `{commit}`: {steps} steps of batch {batch} at learning rate {lr:g}, v prediction
  on mini-shapes' zero-terminal-SNR schedule, {high_share:.0%} of each batch from the noisiest fifth, the object's
  latent cells weighted x{fg_weight:g} more; {unet_seconds} s on {threads} CPU threads; final loss
  {final_unet_loss:.4f} (`loss.png`).
- Evaluation: `python -m scripts.mini_motion.evaluate <this folder>` (motion, colour, background and shape read
  back by `studio.video.motion.analyse`).
- Limits: 64x64; trained on {frames} frames (other lengths run, untrained); one object, six straight motions.
"""


def write_card(out: Path, record: dict, card: str = CARD) -> None:
    held_out = ", ".join(f"{colour} {shape}" for shape, colour in sorted(motion.HELD_OUT))
    (out / "README.md").write_text(card.format(held_out=held_out, high_share=record["high_noise"], **record,
                                               **record["params"]), encoding="utf-8")


def main(argv=None, *, parse=parse_args, build=motion_unet, make_pipeline=pipeline, card=CARD,
         module: str = "scripts.mini_motion.train") -> None:
    """The three stages; attempts/unet3d.py runs them with its own settings, UNet, pipeline class and card."""
    args = parse(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    args.command = command(module, argv)  # for the model card
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.commits = run_commits(args.work, ROOT)
    (args.work / "args.json").write_text(json.dumps({"argv": argv, "script": module}))  # for evaluate.py
    vae, text_encoder, tokenizer = load_shapes(args.shapes)
    clips = training_clips(args)
    latents, masks = encode_all(args, vae, clips)
    unet, text_encoder, state = train_unet(args, clips, latents, masks, text_encoder, tokenizer, build)
    export(args, vae, unet, text_encoder, tokenizer, state, make_pipeline, card)
    log(args.work, f"exported to {args.out}")


if __name__ == "__main__":
    main()
