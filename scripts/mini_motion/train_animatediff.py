"""Train mini-motion as an AnimateDiff model: mini-shapes' UNet with motion modules (UNetMotionModel), on
mini-shapes' VAE and text encoder, in a diffusers AnimateDiffPipeline folder.

    python scripts/mini_motion/train_animatediff.py --work runs/mini-motion-ad --out runs/mini-motion-ad/export
    python scripts/mini_motion/train_animatediff.py --smoke --work /tmp/mmad --out /tmp/mmad/model    # for CI

Why not the 3D UNet of train_unet3d.py (the issue's named fallback): its temporal layers have no frame
position. UNet3DConditionModel's temporal attention has no positional embedding (it treats frames as a set)
and its temporal convolutions are the same forwards and backwards until training makes them not, so it cannot
tell the first frame from the last. Measured on its run at step 3000: the axis of the motion is right
(horizontal, vertical or size) but the direction is not: "right to left" came out left to right in 4 of 5
clips, "falling" as rising in 4 of 7; motion right in 30% of 40 prompts. AnimateDiff's motion modules add
sinusoidal frame positions to their temporal attention, so "frame 1 left, frame 8 right" is expressible from
the first step. The spatial layers are mini-shapes' own (AnimateDiff's recipe: a frozen-architecture image
model plus motion modules), the motion modules start as the identity (their output projections zeroed), so
training starts from mini-shapes drawing the same picture in every frame.

The text encoder: fine-tuned with the UNet alone (the first run of this script, to step 2000, and
train_unet3d.py's), it learned to merge what the UNet could not use yet (`probe.py RUN --text`): the relative
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

Everything else (data, latents, schedule, loss, EMA, resuming, export record) is train_unet3d.py's.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "assets" / "models" / "mini-shapes"


def _script(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


base = _script(Path(__file__).with_name("train_unet3d.py"), "mini_motion_unet3d")
load_shapes = base.load_shapes


def parse_args(argv=None):
    """train_unet3d.py's settings; 4000 steps (frame positions make motion quicker to learn, and the run fits
    a session beside its evaluation), the text encoder fine-tuned with the motion-naming loss, 70% of each
    batch at the noisiest timesteps, and only the motion modules trained, at twice the 3D UNet's learning rate
    (see the module's docstring)."""
    return base.parse_args(argv, steps=4000, motion_aux=0.1, high_noise=0.7, freeze_spatial=True, lr=1e-3)


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


def inflated_unet(args):
    unet = make_unet(args.shapes)
    motion = sum(p.numel() for n, p in unet.named_parameters() if "motion_modules" in n)
    base.log(args.work, f"UNetMotionModel: mini-shapes' UNet + motion modules of {motion:,} parameters")
    return unet


def pipeline(vae, text_encoder, tokenizer, unet, shapes_folder: Path):
    """The AnimateDiffPipeline of trained parts, with mini-shapes' schedule under its default sampler (the
    export, and evaluate.py on a checkpoint). The motion modules live in the UNet: no separate adapter."""
    from diffusers import AnimateDiffPipeline
    from studio.samplers import make_scheduler
    scheduler = make_scheduler(base.SAMPLER, base.noise_schedule(shapes_folder).config)
    return AnimateDiffPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                               motion_adapter=None, scheduler=scheduler)


CARD = base.CARD.replace(
    "A standard diffusers `TextToVideoSDPipeline` folder\n(the classes of ModelScope's text-to-video-ms-1.7b: a 3D "
    "UNet on a Stable Diffusion VAE and CLIP text encoder).",
    "A standard diffusers `AnimateDiffPipeline` folder\n(AnimateDiff: a Stable Diffusion UNet with motion modules, "
    "here mini-shapes' own).").replace(
    "UNet3DConditionModel {unet:,} parameters, its spatial layers copied from\n  mini-shapes' UNet "
    "(`{reused}` at commit `{reused_commit}`), its temporal convolutions and attention trained here.",
    "UNetMotionModel {unet:,} parameters: mini-shapes' UNet (`{reused}` at commit `{reused_commit}`)\n  with motion "
    "modules (temporal attention with sinusoidal frame positions) trained here, its spatial layers {spatial_training}.")
assert "AnimateDiffPipeline" in CARD and "UNetMotionModel" in CARD, "train_unet3d.py's card changed its wording"


def main(argv=None) -> None:
    base.main(argv, build=inflated_unet, make_pipeline=pipeline, card=CARD, script="train_animatediff",
              parse=parse_args)


if __name__ == "__main__":
    main()
