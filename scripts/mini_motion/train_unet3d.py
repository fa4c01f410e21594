"""Train mini-motion the issue's fallback way: a TextToVideoSDPipeline folder (ModelScope text-to-video's classes)
whose small UNet3DConditionModel reuses mini-shapes' VAE and text encoder.

    python scripts/mini_motion/train_unet3d.py --work runs/mini-motion-3d --out runs/mini-motion-3d/export
    python scripts/mini_motion/train_unet3d.py --smoke --work /tmp/mm3 --out /tmp/mm3/model     # seconds, for CI

Why (the Wan attempt, train.py): WanTransformer3DModel places its tokens only by rotary embeddings, which are
relative, and its patch embedding has no padding, so it has no absolute position at all (the same input in every
token gives the same output in every token, to 1e-7). A small one has to break that symmetry from the noise alone
and, in two CPU hours, did not: it read a bag of colours from the prompt, not which colour is the object's nor
where it moves (probe.py; best of eight versions: motion and colour right together in 21.8% of clips). A UNet's
zero-padded convolutions know where the frame's edges are, and mini-shapes' UNet already draws every shape and
colour on any background: its spatial layers are copied into the 3D UNet ("inflation", as ModelScope's model was
made from Stable Diffusion), so only the temporal layers have to learn, and they learn motion.

Result (run to step 3000 of 6000, 2026-11-27): the shape moves along the right axis (horizontal, vertical or its
size) but often the wrong way: "right to left" came out left to right in 4 of 5 clips. Its temporal attention
has no frame positions and its temporal convolutions start symmetric in time, so it cannot tell the first frame
from the last. The shipped mini-motion is train_animatediff.py's, which adds frame positions; this script is
kept for that finding and as the issue's named fallback.

Data: clips of one mini-shapes object moving (studio.motion), --frames frames of 64x64, zh / en captions.
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

import argparse
import importlib.util
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from studio import motion  # noqa: E402
from trainlib import (log, lr_at, make_readable, naming_head, naming_loss, optimise, plot_losses,  # noqa: E402
                      run_commits, short_commits, step_generator)

SAMPLER = "DPM++ 2M"  # the exported scheduler: mini-shapes' default sampler, on its noise schedule
MOTION_LABELS = [*motion.MOTIONS, None]  # what --motion-aux names: the six motions, or "none named"


def _script(path: Path, name: str):
    """Another training script as a module under its own name (they are all "train")."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shapes_train = _script(ROOT / "scripts" / "mini_shapes" / "train.py", "mini_shapes_train")
wan_train = _script(Path(__file__).with_name("train.py"), "mini_motion_train")  # clips, renderer, the shared loop


def parse_args(argv=None, **defaults):
    """The settings; `defaults` are another script's own (train_animatediff.py)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="checkpoints, latent cache and logs")
    p.add_argument("--out", type=Path, required=True, help="where the pipeline folder is written")
    p.add_argument("--shapes", type=Path, default=ROOT / "assets" / "models" / "mini-shapes",
                   help="the mini-shapes pipeline folder whose VAE, text encoder and UNet are reused")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1, help="processes rendering the clips to encode")
    p.add_argument("--clips", type=int, default=6000, help="clips encoded for training")
    p.add_argument("--frames", type=int, default=8, help="frames per clip (the issue's 8-16)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--high-noise", type=float, default=0.5,
                   help="share of each batch drawn from the noisiest fifth of timesteps (as mini-shapes)")
    p.add_argument("--fg-weight", type=float, default=10.0, help="extra weight of the object's latent cells")
    p.add_argument("--freeze-text", action=argparse.BooleanOptionalAction, default=False,
                   help="keep mini-shapes' text encoder as it is (fine-tuned with the UNet, it merges words the "
                        "UNet cannot use yet, such as left and right, and then the UNet never can)")
    p.add_argument("--freeze-spatial", action=argparse.BooleanOptionalAction, default=False,
                   help="train only the temporal layers (AnimateDiff's recipe); the spatial ones stay mini-shapes'")
    p.add_argument("--motion-aux", type=float, default=0.0,
                   help="weight of an auxiliary loss on the fine-tuned text encoder: a linear head on its pooled "
                        "output names the caption's motion (or none). It keeps the directions apart while the UNet "
                        "cannot use them yet; the head is dropped at export (0: off)")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--smoke", action="store_true", help="a few steps on a few clips (CI)")
    p.set_defaults(**defaults)
    args = p.parse_args(argv)
    if args.smoke:
        args.clips, args.steps, args.batch, args.save_every, args.frames = 4, 3, 2, 2, 4
    return args


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
    with wan_train.renderer(args.workers, args.frames) as render:
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


# -- stage 2: UNet3D + text encoder --------------------------------------------------------------
def inflated_unet(args):
    """The 3D UNet to train: mini-shapes' spatial layers, new temporal ones."""
    unet = make_unet(args.shapes)
    copied, new = inflate(unet, args.shapes)
    log(args.work, f"UNet3D: {copied} tensors from mini-shapes' UNet, {new} temporal ones new")
    return unet


# Parameter names of the temporal layers: UNet3DConditionModel's, and UNetMotionModel's motion modules.
TEMPORAL = ("temp_convs", "temp_attentions", "transformer_in", "motion_modules")


def train_unet(args, clips, latents, masks, text_encoder, tokenizer, build=inflated_unet):
    """The video UNet that `build(args)` makes (its spatial layers mini-shapes'), trained with the text encoder."""
    import copy
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
        torch.manual_seed(args.seed * 1_000_003 + step)  # the temporal convolutions' dropout: resumable too
        g = step_generator(args.seed, 2, step)
        rng = random.Random(args.seed * 7919 + step)
        idx = torch.randint(0, len(clips), (args.batch,), generator=g)
        captions = ["" if rng.random() < 0.1 else motion.caption(clips[i], rng) for i in idx.tolist()]
        x0 = latents[idx].float()
        noise = torch.randn(x0.shape, generator=g)
        t = shapes_train.timesteps(g, args.batch, noise_scheduler.config.num_train_timesteps, args.high_noise)
        encoded = text_encoder(shapes_train.tokenize(tokenizer, captions))
        context = encoded[0]
        if per_frame_text:  # AnimateDiff's UNet takes the prompt once per frame (as its pipeline repeats it)
            context = context.repeat_interleave(x0.shape[2], dim=0)
        # With the spatial layers frozen, the first motion module's GroupNorm needs gradients for its weights but
        # not its input, and torch 2.11's CPU backward for that case (channels-last kernel) segfaults: asking for
        # the input's gradient avoids it.
        noisy = noise_scheduler.add_noise(x0, noise, t).requires_grad_(args.freeze_spatial)
        pred = unet(noisy, t, encoder_hidden_states=context).sample
        loss = shapes_train.weighted_mse(pred, noise_scheduler.get_velocity(x0, noise, t), masks[idx].float(),
                                         args.fg_weight)
        total = loss
        if head is not None:
            named = [motion.parse_prompt(c).get("motion") for c in captions]
            total = loss + args.motion_aux * naming_loss(head, encoded[1], MOTION_LABELS, named)
        text = [] if args.freeze_text else [(ema_text, text_encoder)]
        optimise(optimizer, total, params, lr_at(step, args.steps, args.lr), step, [(ema_unet, unet), *text])
        return loss.item()

    unet.train()
    text_encoder.train(not args.freeze_text)
    state = wan_train.run_steps(args, "unet", args.steps, args.work / "unet", modules, optimizer, step_fn)
    return ema_unet.eval(), ema_text.eval(), state


# -- stage 3: export -----------------------------------------------------------------------------
def pipeline(vae, text_encoder, tokenizer, unet, shapes_folder: Path):
    """The TextToVideoSDPipeline of trained parts, with mini-shapes' schedule under its default sampler (the
    export, and evaluate.py on a checkpoint)."""
    import warnings
    from diffusers import TextToVideoSDPipeline
    from studio.samplers import make_scheduler
    scheduler = make_scheduler(SAMPLER, noise_schedule(shapes_folder).config)
    with warnings.catch_warnings():  # "deprecated": the fallback is this very class
        warnings.simplefilter("ignore", FutureWarning)
        return TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                     scheduler=scheduler)


def export(args, vae, unet, text_encoder, tokenizer, state, make_pipeline=None, card=None) -> None:
    """The pipeline folder (make_pipeline: this script's TextToVideoSDPipeline unless given), its record and card."""
    pipe = (make_pipeline or pipeline)(vae, text_encoder, tokenizer, unet, args.shapes)
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
              "params": {"vae": wan_train.n_params(vae), "unet": wan_train.n_params(unet),
                         "text_encoder": wan_train.n_params(text_encoder)},
              "final_unet_loss": float(np.mean(state["losses"][-200:]))}
    (args.out / "training.json").write_text(json.dumps(record, indent=2))
    plot_losses(args.out / "loss.png", [(state["losses"], "UNet3D v-prediction MSE")])
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
`a red circle moving from left to right on a blue background`. A standard diffusers `TextToVideoSDPipeline` folder
(the classes of ModelScope's text-to-video-ms-1.7b: a 3D UNet on a Stable Diffusion VAE and CLIP text encoder).

- Data: {clips} rendered clips (`studio/motion.py`): 4 shapes, 8 colours, 6 motions (left to right, right to
  left, falling, rising, growing, shrinking), jittered paths; captions leave out shape / colour / background
  with probability 0.3 (then they are random), 10% empty captions for classifier-free guidance. The shape-colour
  pairs {held_out} never occur in training.
- Architecture: mini-shapes' VAE ({vae:,} parameters, frozen, frame by frame: 64x64x3 <-> 16x16x4) and text
  encoder ({text_encoder:,}, {text_training}); UNet3DConditionModel {unet:,} parameters, its spatial layers copied from
  mini-shapes' UNet (`{reused}` at commit `{reused_commit}`), its temporal convolutions and attention trained here. Weights stored in fp16.
- Training: `{command}` at commit `{commit}`: {steps} steps of batch {batch} at learning rate {lr:g}, v prediction
  on mini-shapes' zero-terminal-SNR schedule, {high_share:.0%} of each batch from the noisiest fifth, the object's
  latent cells weighted x{fg_weight:g} more; {unet_seconds} s on {threads} CPU threads; final loss
  {final_unet_loss:.4f} (`loss.png`).
- Evaluation: `python scripts/mini_motion/evaluate.py <this folder>` (motion, colour, background and shape read
  back by `studio.motion.analyse`).
- Limits: 64x64; trained on {frames} frames (other lengths run, untrained); one object, six straight motions.
"""


def write_card(out: Path, record: dict, card: str = CARD) -> None:
    held_out = ", ".join(f"{colour} {shape}" for shape, colour in sorted(motion.HELD_OUT))
    (out / "README.md").write_text(card.format(held_out=held_out, high_share=record["high_noise"], **record,
                                               **record["params"]), encoding="utf-8")


def main(argv=None, build=inflated_unet, make_pipeline=None, card=None, script="train_unet3d",
         parse=parse_args) -> None:
    """The three stages; train_animatediff.py runs them with its own settings, UNet, pipeline class and card."""
    args = parse(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    args.command = " ".join([f"scripts/mini_motion/{script}.py", *argv])  # for the model card
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.commits = run_commits(args.work, ROOT)
    (args.work / "args.json").write_text(json.dumps({"argv": argv, "script": script}))  # for evaluate.py
    vae, text_encoder, tokenizer = load_shapes(args.shapes)
    clips = wan_train.training_clips(args)
    latents, masks = encode_all(args, vae, clips)
    unet, text_encoder, state = train_unet(args, clips, latents, masks, text_encoder, tokenizer, build)
    export(args, vae, unet, text_encoder, tokenizer, state, make_pipeline, card)
    log(args.work, f"exported to {args.out}")


if __name__ == "__main__":
    main()
