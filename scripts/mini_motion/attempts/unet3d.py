"""Train mini-motion the issue's fallback way: a TextToVideoSDPipeline folder (ModelScope text-to-video's classes)
whose small UNet3DConditionModel reuses mini-shapes' VAE and text encoder.

    python -m scripts.mini_motion.attempts.unet3d --work runs/mini-motion-3d --out runs/mini-motion-3d/export
    python -m scripts.mini_motion.attempts.unet3d --smoke --work /tmp/mm3 --out /tmp/mm3/model     # seconds, for CI

An abandoned attempt (attempts/README.md), kept for its finding and as the issue's named fallback; the stages,
data, loss and export are the shipped recipe's (scripts/mini_motion/train.py), with this script's UNet, pipeline
class, card and settings.

Why (the Wan attempt, attempts/wan.py): WanTransformer3DModel places its tokens only by rotary embeddings, which are
relative, and its patch embedding has no padding, so it has no absolute position at all (the same input in every
token gives the same output in every token, to 1e-7). A small one has to break that symmetry from the noise alone
and, in two CPU hours, did not: it read a bag of colours from the prompt, not which colour is the object's nor
where it moves (scripts.mini_motion.probe; best of eight versions: motion and colour right together in 21.8% of
clips). A UNet's zero-padded convolutions know where the frame's edges are, and mini-shapes' UNet already draws
every shape and colour on any background: its spatial layers are copied into the 3D UNet ("inflation", as
ModelScope's model was made from Stable Diffusion), so only the temporal layers have to learn, and they learn motion.

Result (run to step 3000 of 6000, 2026-11-27): the shape moves along the right axis (horizontal, vertical or its
size) but often the wrong way: "right to left" came out left to right in 4 of 5 clips. Its temporal attention
has no frame positions and its temporal convolutions start symmetric in time, so it cannot tell the first frame
from the last. The shipped mini-motion is scripts/mini_motion/train.py's (AnimateDiff), which adds frame
positions; this script is kept for that finding and as the issue's named fallback.

Data: clips of one mini-shapes object moving (studio.video.motion), --frames frames of 64x64, zh / en captions.
Stages (each resumes from its latest checkpoint in --work when the same command is run again):
1. Every clip's frames encoded by mini-shapes' VAE (frozen; a 2D VAE, so frame by frame: 4x16x16 per frame), and
   the latent cells the object covers (its loss is weighted up, as mini-shapes' is).
2. UNet3DConditionModel (mini-shapes' UNet layout plus temporal convolutions and attention), spatial layers from
   mini-shapes' UNet, and mini-shapes' text encoder, trained together on mini-shapes' noise schedule (v prediction,
   zero terminal SNR, part of each batch at the noisiest timesteps), 10% empty captions (CFG dropout), EMA.
3. Export with the EMA weights (safetensors, fp16 on disk), training.json, loss.png and a model card.
Everything is seeded: a step's batch depends only on (seed, step), so a resumed run equals an unbroken one.
"""
from __future__ import annotations

from pathlib import Path

from scripts.mini_motion import train as recipe
from scripts.mini_motion.train import load_shapes, noise_schedule  # noqa: F401  (load_shapes: for evaluate.py)
from scripts.trainlib import log


SAMPLER = recipe.SAMPLER


def parse_args(argv=None):
    """The shipped recipe's settings with this attempt's defaults: 6000 steps at 5e-4, half of each batch at the
    noisiest timesteps, spatial layers fine-tuned, no motion-naming loss."""
    return recipe.parse_args(argv, doc=__doc__, steps=6000, lr=5e-4, high_noise=0.5, freeze_spatial=False,
                             motion_aux=0.0)


# -- models --------------------------------------------------------------------------------------
def make_unet(shapes_folder: Path):
    """mini-shapes' UNet2DConditionModel layout in 3D: each block gains temporal convolutions and attention.
    Widths and sizes are read from mini-shapes' own config, so the 3D UNet fits whichever version it inflates."""
    from diffusers import UNet2DConditionModel, UNet3DConditionModel
    shapes = UNet2DConditionModel.load_config(shapes_folder, subfolder="unet")
    return UNet3DConditionModel(sample_size=shapes["sample_size"], in_channels=4, out_channels=4,
                                layers_per_block=shapes["layers_per_block"],
                                block_out_channels=tuple(shapes["block_out_channels"]),
                                down_block_types=("DownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D"),
                                up_block_types=("CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "UpBlock3D"),
                                cross_attention_dim=shapes["cross_attention_dim"],
                                attention_head_dim=shapes["attention_head_dim"],
                                norm_num_groups=shapes["norm_num_groups"])


def inflate(unet, shapes_folder: Path) -> tuple[int, int]:
    """Copy mini-shapes' 2D UNet into the 3D one's spatial layers (same names; the 2D attention's 1x1-conv
    projections are the 3D one's linear layers). Returns (copied, new) tensor counts."""
    from safetensors.torch import load_file
    own = unet.state_dict()
    loaded = load_file(shapes_folder / "unet" / "diffusion_pytorch_model.safetensors")
    copied = {k: v.float().reshape(own[k].shape) for k, v in loaded.items() if k in own}
    unexpected = set(loaded) - set(copied)
    if unexpected:
        raise ValueError(f"mini-shapes' UNet does not fit this layout: {sorted(unexpected)[:5]}")
    unet.load_state_dict(copied, strict=False)
    return len(copied), len(own) - len(copied)


def inflated_unet(args):
    """The 3D UNet to train: mini-shapes' spatial layers, new temporal ones."""
    unet = make_unet(args.shapes)
    copied, new = inflate(unet, args.shapes)
    log(args.work, f"UNet3D: {copied} tensors from mini-shapes' UNet, {new} temporal ones new")
    return unet


# -- export ---------------------------------------------------------------------------------------
def pipeline(vae, text_encoder, tokenizer, unet, shapes_folder: Path):
    """The TextToVideoSDPipeline of trained parts, with mini-shapes' schedule under its default sampler (the
    export, and evaluate.py on a checkpoint)."""
    import warnings

    from diffusers import TextToVideoSDPipeline

    from studio.image.samplers import make_scheduler
    scheduler = make_scheduler(SAMPLER, noise_schedule(shapes_folder).config)
    with warnings.catch_warnings():  # "deprecated": the fallback is this very class
        warnings.simplefilter("ignore", FutureWarning)
        return TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                     scheduler=scheduler)


CARD = """# mini-motion

A tiny text-to-video model of this project (built-in, offline): one shape of mini-shapes moving on a plain
background, {frames} frames of 64x64, prompts in Chinese or English, e.g. `蓝色背景上的红色圆形从左向右移动`,
`a red circle moving from left to right on a blue background`. A standard diffusers `TextToVideoSDPipeline` folder
(the classes of ModelScope's text-to-video-ms-1.7b: a 3D UNet on a Stable Diffusion VAE and CLIP text encoder).

- Data: {clips} rendered clips (`studio/video/motion.py`): 4 shapes, 8 colours, 6 motions (left to right, right to
  left, falling, rising, growing, shrinking), jittered paths; captions leave out shape / colour / background
  with probability 0.3 (then they are random), 10% empty captions for classifier-free guidance. The shape-colour
  pairs {held_out} never occur in training.
- Architecture: mini-shapes' VAE ({vae:,} parameters, frozen, frame by frame: 64x64x3 <-> 16x16x4) and text
  encoder ({text_encoder:,}, {text_training}); UNet3DConditionModel {unet:,} parameters, its spatial layers \
copied from
  mini-shapes' UNet (`{reused}` at commit `{reused_commit}`), its temporal convolutions and attention trained \
here. Weights stored in fp16.
- Training: `{command}` at commit `{commit}`: {steps} steps of batch {batch} at learning rate {lr:g}, v prediction
  on mini-shapes' zero-terminal-SNR schedule, {high_share:.0%} of each batch from the noisiest fifth, the object's
  latent cells weighted x{fg_weight:g} more; {unet_seconds} s on {threads} CPU threads; final loss
  {final_unet_loss:.4f} (`loss.png`).
- Evaluation: `python -m scripts.mini_motion.evaluate <this folder>` (motion, colour, background and shape read
  back by `studio.video.motion.analyse`).
- Limits: 64x64; trained on {frames} frames (other lengths run, untrained); one object, six straight motions.
"""


def main(argv=None) -> None:
    recipe.main(argv, parse=parse_args, build=inflated_unet, make_pipeline=pipeline, card=CARD,
                module="scripts.mini_motion.attempts.unet3d")


if __name__ == "__main__":
    main()
