"""Train the mini ControlNet of mini-shapes: a learner's drawn outline (or a picture's Canny edges) says which shape
to paint and where; the prompt still picks its colour and the background.

    python -m scripts.mini_control.train --work /work/runs/mini-control --out assets/models/mini-shapes-controlnet
    python -m scripts.mini_control.train --smoke --work /tmp/mc --out /tmp/mc/model     # seconds, for CI

(from the repository root). Then `python -m scripts.mini_control.evaluate OUT --card` writes the model card's
evaluation.

A diffusers ControlNetModel made by `ControlNetModel.from_unet` from mini-shapes' UNet (its encoder half and
middle block copied, zero convolutions after each, and a conditioning embedding that takes the 64x64 control image
down to the 16x16 latent grid), trained as diffusers' examples/controlnet/train_controlnet.py trains one: mini-shapes'
UNet, VAE and text encoder frozen, the loss on the UNet's prediction (v, mini-shapes' target) with the ControlNet's
residuals added.

Data (scripts/mini_control/data.py): mini-shapes' pictures with the shape anywhere (centre x 0.2-0.8, y 0.25-0.75)
and of any size (side 0.22-0.58 of the width; mini-shapes' small is 0.28, big 0.5), never a held-out shape-colour
pair; each with two controls, `preprocess.canny` of the picture and `preprocess.scribble` of a simulated mouse
drawing of its outline (wobbly, tilted, a little off in place and size, sometimes a gap, strokes of 1-4 px, drawn
on a canvas up to 8x larger and resized); captions in mini-shapes' wording, with size and position words only where
they agree with the drawing, 10% empty (classifier-free guidance dropout).

Stages (each resumes from --work when the same command is run again):
1. The data: pictures rendered, encoded by mini-shapes' VAE, controls drawn; cached in --work.
2. The ControlNet, AdamW with warm-up and cosine decay, EMA of its weights.
3. Export of the EMA weights as a ControlNetModel folder (safetensors, fp16 on disk, as mini-shapes), training.json,
   loss.png and a model card (the evaluation's section is filled by evaluate.py --card).
Everything is seeded: a step's batch depends only on (seed, step), so a resumed run equals an unbroken one.
"""
from __future__ import annotations

import os


# Before torch starts OpenMP: on 2 shared cores, threads that spin while waiting made a step 4-5x slower whenever
# another process was busy (measured: batch 32, 4.5 s/step against 1.1 s with passive waiting).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import copy  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from scripts.mini_control import data  # noqa: E402
from scripts.trainlib import (  # noqa: E402
    ROOT,
    arguments,
    command,
    log,
    lr_at,
    machine,
    make_readable,
    n_params,
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


SHAPES = ROOT / "assets" / "models" / "mini-shapes"
CHUNK = 250  # scenes per data chunk: each chunk is seeded by its index, so the data do not depend on --threads


def parse_args(argv=None):
    p = arguments(__doc__, work="checkpoints, data cache and logs", out="where the ControlNetModel folder is written",
                  smoke="a few steps on a few pictures (CI)")
    p.add_argument("--shapes", type=Path, default=SHAPES, help="the mini-shapes pipeline folder (frozen)")
    p.add_argument("--samples", type=int, default=8000, help="pictures (each with a Canny and a scribble control)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (warm-up, cosine decay to 10%%)")
    p.add_argument("--embedding-channels", default="16,32,64",
                   help="the conditioning embedding's widths: n widths downsample by 2^(n-1), 64 -> 16 for three")
    p.add_argument("--high-noise", type=float, default=0.5,
                   help="share of each batch from the noisiest fifth of timesteps, where the layout is decided")
    p.add_argument("--fg-weight", type=float, default=5.0,
                   help="extra loss weight of the latent cells the shape covers")
    p.add_argument("--uncond", type=float, default=0.1, help="share of empty captions (CFG dropout)")
    p.add_argument("--canny-share", type=float, default=0.5, help="share of Canny controls (the rest: scribbles)")
    p.add_argument("--pentagrams", type=float, default=0.0,
                   help="share of the stars' scribbles drawn as a one-stroke pentagram, as most people draw a star")
    p.add_argument("--star-share", type=float, default=0.0,
                   help="share of each batch drawn from the stars (0: as they come, a quarter)")
    p.add_argument("--init-from", type=Path,
                   help="a ControlNetModel folder to go on from (its weights start the net and its EMA)")
    args = p.parse_args(argv)
    if args.smoke:
        args.samples, args.steps, args.batch, args.save_every = 8, 3, 4, 2
    return args


# -- models --------------------------------------------------------------------------------------
def load_shapes(folder: Path):
    """mini-shapes' VAE, text encoder, tokenizer and UNet in fp32, frozen, and its training noise schedule."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", dtype=torch.float32)
    for module in (vae, text_encoder, unet):
        module.requires_grad_(False).eval()
    schedule = DDPMScheduler.from_config(json.loads((folder / "scheduler" / "scheduler_config.json").read_text()))
    return vae, text_encoder, CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"), unet, schedule


def make_controlnet(unet, channels: str = "16,32,64", init_from: Path | None = None):
    """ControlNetModel.from_unet: the UNet's encoder and middle block copied, zero convolutions after each; or the
    net of an earlier run (`init_from`) to go on training."""
    from diffusers import ControlNetModel
    if init_from is not None:
        return ControlNetModel.from_pretrained(init_from, dtype=torch.float32)
    torch.manual_seed(0)  # the conditioning embedding's initial weights
    widths = tuple(int(c) for c in channels.split(","))
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=widths)


# -- stage 1: data -------------------------------------------------------------------------------
def _chunk(job: tuple[int, int, int]) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Scenes, pictures [n, 64, 64, 3] and controls [n, 64, 64] (Canny, scribble) of one seeded chunk."""
    seed, index, n, pentagrams = job
    rng = random.Random(seed * 1_000_003 + index)
    drawn_as = random.Random(f"{seed}-{index}-pentagram")  # its own stream: the rest of the data stays as it was
    scenes, pictures, cannys, scribbles = [], [], [], []
    for _ in range(n):
        scene = data.random_scene(rng)
        picture = data.render(scene)
        scale = rng.choice((1, 1, 1, 2, 4))  # an uploaded picture: mostly the job's size, sometimes larger
        edges = data.canny(scene, picture=picture) if scale == 1 else data.canny(scene, scale=scale)
        scenes.append(scene)
        pictures.append(np.asarray(picture))
        cannys.append(data.control_array(edges))
        pentagram = scene.shape == "star" and pentagrams > 0 and drawn_as.random() < pentagrams
        scribbles.append(data.control_array(data.scribble(scene, rng, pentagram=pentagram)))
    return scenes, np.stack(pictures), np.stack(cannys), np.stack(scribbles)


@torch.no_grad()
def dataset(args, vae) -> dict:
    """Scenes, scaled latents [N, 4, 16, 16] (fp16), shape masks [N, 1, 16, 16] and the two controls
    [N, 64, 64] (uint8), cached in --work."""
    cache = args.work / f"data-{args.samples}-{args.seed}{f'-p{args.pentagrams:g}' if args.pentagrams else ''}.pt"
    if cache.exists():
        return torch.load(cache, weights_only=True)
    tick = time.time()
    jobs = [(args.seed, i, min(CHUNK, args.samples - start), args.pentagrams)
            for i, start in enumerate(range(0, args.samples, CHUNK))]
    if args.threads > 1 and len(jobs) > 1:
        with get_context("fork").Pool(args.threads) as pool:
            parts = pool.map(_chunk, jobs)
    else:
        parts = [_chunk(job) for job in jobs]
    scenes = [s for part in parts for s in part[0]]
    pictures = torch.from_numpy(np.concatenate([part[1] for part in parts])).permute(0, 3, 1, 2)
    latents, masks = [], []
    for i in range(0, len(pictures), 256):
        x = pictures[i:i + 256].float() / 127.5 - 1.0
        latents.append((vae.encode(x).latent_dist.mean * vae.config.scaling_factor).half())
        fg = ((x - x[:, :, :1, :1]).abs().sum(1, keepdim=True) > 0.25).float()  # plain background: its corner
        masks.append(F.max_pool2d(fg, 4).bool())
    out = {"scenes": [s.__dict__ for s in scenes], "latents": torch.cat(latents), "masks": torch.cat(masks),
           "canny": torch.from_numpy(np.concatenate([part[2] for part in parts])),
           "scribble": torch.from_numpy(np.concatenate([part[3] for part in parts])),
           "seconds": time.time() - tick}
    torch.save(out, cache)
    log(args.work, f"data: {len(scenes)} pictures with Canny and scribble controls in {out['seconds']:.0f} s")
    return out


# -- stage 2: the ControlNet ---------------------------------------------------------------------
def train_controlnet(args, text_encoder, tokenizer, unet, schedule, train: dict):
    torch.manual_seed(args.seed)
    controlnet = make_controlnet(unet, args.embedding_channels, args.init_from)
    ema = copy.deepcopy(controlnet).requires_grad_(False)
    params = list(controlnet.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    scenes = [data.Scene(**s) for s in train["scenes"]]
    n = len(scenes)
    stars = torch.tensor([i for i, scene in enumerate(scenes) if scene.shape == "star"])
    n_stars = round(args.batch * args.star_share) if len(stars) else 0

    def step_fn(step: int) -> float:
        torch.manual_seed(args.seed * 1_000_003 + step)
        g = step_generator(args.seed, 1, step)
        rng = random.Random(args.seed * 7919 + step)
        idx = torch.randint(0, n, (args.batch,), generator=g)
        if n_stars:  # the shape it draws worst (thin arms at 64 px), more often
            idx[:n_stars] = stars[torch.randint(0, len(stars), (n_stars,), generator=g)]
        use_canny = (torch.rand(args.batch, generator=g) < args.canny_share)[:, None, None]
        control = torch.where(use_canny, train["canny"][idx], train["scribble"][idx]).float() / 255.0
        control = control[:, None].expand(-1, 3, -1, -1)  # RGB in [0, 1], as the pipeline's control processor
        captions = ["" if rng.random() < args.uncond else data.caption(scenes[i], rng) for i in idx.tolist()]
        with torch.no_grad():
            context = text_encoder(tokenize(tokenizer, captions))[0]
        x0 = train["latents"][idx].float()
        noise = torch.randn(x0.shape, generator=g)
        t = timesteps(g, args.batch, schedule.config.num_train_timesteps, args.high_noise)
        noisy = schedule.add_noise(x0, noise, t)
        down, mid = controlnet(noisy, t, encoder_hidden_states=context, controlnet_cond=control, return_dict=False)
        pred = unet(noisy, t, encoder_hidden_states=context, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
        loss = weighted_mse(pred, schedule.get_velocity(x0, noise, t), train["masks"][idx].float(), args.fg_weight)
        optimise(optimizer, loss, params, lr_at(step, args.steps, args.lr), step, [(ema, controlnet)])
        return loss.item()

    controlnet.train()
    state = run_steps(args, "controlnet", args.steps, args.work / "controlnet",
                      {"controlnet": controlnet, "ema_controlnet": ema}, optimizer, step_fn)
    return ema.eval(), state


# -- stage 3: export -----------------------------------------------------------------------------
def export(args, controlnet, state: dict, data_seconds: float) -> None:
    from scripts.mini_control import evaluate
    args.out.mkdir(parents=True, exist_ok=True)
    controlnet.to(torch.float16)  # half the bytes on disk; loaded in fp32 on a CPU (dtype=torch.float32)
    controlnet.save_pretrained(args.out, safe_serialization=True)
    config = json.loads((args.out / "config.json").read_text())
    if config.pop("_name_or_path", None) is not None:  # --init-from's folder: a path of the training machine
        (args.out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shapes_run = json.loads((args.shapes / "training.json").read_text(encoding="utf-8"))
    record = {"command": args.command, "commit": args.commits, "seed": args.seed, "samples": args.samples,
              "steps": args.steps, "batch": args.batch, "lr": args.lr, "embedding_channels": args.embedding_channels,
              "high_noise": args.high_noise, "fg_weight": args.fg_weight, "uncond": args.uncond,
              "canny_share": args.canny_share, "pentagrams": args.pentagrams, "star_share": args.star_share,
              "init_from": _shown(args.init_from), "init_run": _earlier_run(args.init_from),
              "params": n_params(controlnet),
              "shapes": _shown(args.shapes),
              "shapes_command": shapes_run["command"], "shapes_commit": short_commits(shapes_run["commit"]),
              "final_loss": float(np.mean(state["losses"][-200:])),
              "seconds": {"data": round(data_seconds, 1), "controlnet": round(state["seconds"], 1)},
              "machine": machine(), "threads": args.threads}
    (args.out / "training.json").write_text(json.dumps(record, indent=2))
    plot_losses(args.out / "loss.png", [(state["losses"], "v-prediction MSE with the ControlNet")])
    evaluate.write_card(args.out, None, None)
    make_readable(args.out)


def _shown(path: Path | None) -> str | None:
    if path is None:
        return None
    path = path.resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def _earlier_run(folder: Path | None) -> dict | None:
    """The run a --init-from net came from (its training.json's command, commit, steps): the chain stays on record."""
    record = folder / "training.json" if folder is not None else None
    if record is None or not record.is_file():
        return None
    run = json.loads(record.read_text(encoding="utf-8"))
    return {k: run.get(k) for k in ("command", "commit", "steps", "init_run") if run.get(k) is not None}


def main(argv=None) -> None:
    args = parse_args(argv)
    args.command = command("scripts.mini_control.train", argv)  # for training.json and the card
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.commits = run_commits(args.work, ROOT)
    (args.work / "args.json").write_text(json.dumps({"embedding_channels": args.embedding_channels}))  # evaluate.py
    vae, text_encoder, tokenizer, unet, schedule = load_shapes(args.shapes)
    train = dataset(args, vae)
    log(args.work, f"ControlNetModel of {n_params(make_controlnet(unet, args.embedding_channels)):,} parameters; "
                   f"{len(train['scenes'])} pictures; {args.steps} steps of {args.batch}")
    controlnet, state = train_controlnet(args, text_encoder, tokenizer, unet, schedule, train)
    export(args, controlnet, state, train["seconds"])
    log(args.work, f"exported to {args.out}")


if __name__ == "__main__":
    main()
