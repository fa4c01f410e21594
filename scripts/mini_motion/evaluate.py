"""Measure mini-motion with the deterministic clip analyser (studio.video.motion.analyse) and print a table.

    python -m scripts.mini_motion.evaluate assets/models/mini-motion [--prompts 100] [--json eval.json]
    python -m scripts.mini_motion.evaluate runs/mini-motion [--step 4000] [--prompts 40]    # a training checkpoint

Any of the recipes' models: train.py's AnimateDiffPipeline, or the attempts' WanPipeline (attempts/wan.py) and
TextToVideoSDPipeline (attempts/unet3d.py). Given a --work folder of any of them instead of an exported one, it
evaluates a checkpoint (the latest, or --step) with its EMA weights, as the export would hold them: a learning
curve without waiting for the run's end.

Generates one clip per random prompt (seeded; a quarter of them name a held-out shape-colour pair) at the model's
defaults (Wan: 17 frames, 64x64, 20 steps, guidance 5, UniPC; the UNets: their trained frame count, guidance 7,
their exported DPM++ 2M) and reads motion, colour, background and shape back.
Only attributes the prompt names are scored; "motion + colour" counts clips with both right (the target: 80%).
Then the VAE's ceiling: clean clips encoded and decoded, then analysed. The transformer works in the VAE's
latents, so what the round trip loses cannot come out right however well the prompt is followed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from scripts.trainlib import command
from studio.image import shapes
from studio.video import motion
from studio.video.engine import text_options


DEFAULTS = dict(num_frames=motion.FRAMES, height=motion.SIZE, width=motion.SIZE, num_inference_steps=20,
                guidance_scale=5.0)
# The UNets' models (AnimateDiffPipeline, TextToVideoSDPipeline): their own frame count and mini-shapes' CFG.
UNET3D_DEFAULTS = dict(DEFAULTS, guidance_scale=7.0)
ATTRIBUTES = ("motion", "colour", "background", "shape")


def load(folder: Path):
    """As studio.core.loaders does on a CPU: everything in fp32."""
    import warnings

    from diffusers import DiffusionPipeline
    with warnings.catch_warnings():  # TextToVideoSDPipeline is "deprecated": the fallback is that class
        warnings.simplefilter("ignore", FutureWarning)
        pipe = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def defaults(pipe, folder: Path) -> dict:
    """The call evaluate.py scores: Wan's (17 frames, guidance 5), or a UNet's at its trained frame count."""
    if type(pipe).__name__ == "WanPipeline":
        return DEFAULTS
    record = folder / "training.json"
    if record.is_file():
        return dict(UNET3D_DEFAULTS, num_frames=json.loads(record.read_text())["frames"])
    frames = _run_args(folder, _recipe(UNET3D)).frames
    return dict(UNET3D_DEFAULTS, num_frames=frames)


WAN, UNET3D = "scripts.mini_motion.attempts.wan", "scripts.mini_motion.attempts.unet3d"
# args.json's "script": the recipe's module; runs from before `python -m` wrote the script's file name
RECIPES = {"train_animatediff": "scripts.mini_motion.train", "train_unet3d": UNET3D}


def _recipe(name: str):
    """The training recipe (a module) that args.json names."""
    return importlib.import_module(RECIPES.get(name, name))


def _run_args(work: Path, train):
    """The settings a run was started with (its args.json), as its training script (a module) parses them."""
    saved = work / "args.json"
    argv = json.loads(saved.read_text())["argv"] if saved.is_file() else ["--work", "-", "--out", "-"]
    return train.parse_args(argv)


def _checkpoint(folder: Path, step: int | None) -> Path:
    steps = sorted(folder.glob("step-*"))
    chosen = [c for c in steps if step is None or c.name == f"step-{step:06d}"]
    if not chosen:
        sys.exit(f"no checkpoint {step or ''} in {folder}; there are {[c.name for c in steps]}")
    print(f"{folder.parent}: {chosen[-1].name}", flush=True)
    return chosen[-1]


def load_unet3d_run(work: Path, step: int | None = None):
    """The pipeline of a train.py or attempts/unet3d.py run's checkpoint (EMA UNet and text encoder), as the
    recipe exports it (AnimateDiffPipeline or TextToVideoSDPipeline; args.json names the recipe)."""
    from safetensors.torch import load_model
    saved = work / "args.json"
    script = json.loads(saved.read_text()).get("script", "train_unet3d") if saved.is_file() else "train_unet3d"
    train = _recipe(script)
    run = _run_args(work, train)
    chosen = _checkpoint(work / "unet", step)
    vae, text_encoder, tokenizer = train.load_shapes(run.shapes)
    unet = train.make_unet(run.shapes)
    load_model(unet, str(chosen / "ema_unet.safetensors"))
    load_model(text_encoder, str(chosen / "ema_text_encoder.safetensors"))
    pipe = train.pipeline(vae, text_encoder.eval(), tokenizer, unet.eval(), run.shapes)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_run(work: Path, step: int | None = None):
    """The pipeline of a training run's checkpoint (train.py's and attempts/unet3d.py's: load_unet3d_run). An
    attempts/wan.py run: the EMA transformer and text encoder of transformer/step-N (built with the settings the run
    was started with, its args.json), its last VAE checkpoint and the latent statistics of its cache, put together
    as the export does."""
    from safetensors.torch import load_model
    if (work / "unet").is_dir():
        return load_unet3d_run(work, step)
    train = _recipe(WAN)
    run = _run_args(work, train)
    chosen = _checkpoint(work / "transformer", step)
    tokenizer = train.build_tokenizer()
    transformer = train.make_transformer(run.patch, run.layers)
    text_encoder = train.make_text_encoder(len(tokenizer), run.text_layers)
    vae = train.make_vae()
    load_model(transformer, str(chosen / "ema_transformer.safetensors"))
    load_model(text_encoder, str(chosen / "ema_text_encoder.safetensors"))
    vae_checkpoint = sorted((work / "vae").glob("step-*"))[-1]
    load_model(vae, str(vae_checkpoint / "vae.safetensors"))
    vae_steps = int(vae_checkpoint.name.split("-")[1])  # the cache is named after the VAE it was encoded with
    stats = torch.load(sorted(work.glob(f"latents-*-{vae_steps}.pt"))[-1], weights_only=True)
    pipe = train.pipeline(tokenizer, text_encoder.eval(), vae.eval(), transformer.eval(), stats["mean"].tolist(),
                          stats["std"].tolist(), run.flow_shift)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def prompts(n: int, seed: int) -> list[tuple[str, motion.Clip, bool]]:
    """(prompt, clip, held_out). Every prompt names its motion; held-out prompts name shape and colour too."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        held = i % 4 == 3
        clip = motion.random_clip(rng)
        if held:
            shape, colour = sorted(motion.HELD_OUT)[rng.randrange(len(motion.HELD_OUT))]
            background = rng.choice([c for c in shapes.COLOURS if c != colour])
            clip = replace(clip, shape=shape, colour=colour, background=background)
        text = motion.caption(clip, rng, drop=0.2)
        needed = {"motion", "shape", "colour"} if held else {"motion"}
        if not needed <= set(motion.parse_prompt(text)):
            text = motion.caption(clip, rng, drop=0.0)
        out.append((text, clip, held))
    return out


def generate(pipe, texts: list[str], seeds: list[int], batch: int = 10, base: dict | None = None,
             **overrides) -> list:
    """Clips as float arrays [F, H, W, 3] in [0, 1], made with `base` (Wan's DEFAULTS unless given) and overrides."""
    clips = []
    for i in range(0, len(texts), batch):
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds[i:i + batch]]
        # text_options: the prompt padding the model was trained with, as the studio passes it (v5 was first
        # evaluated with Wan's 512, which drowns a 32-token model's prompt).
        out = pipe(prompt=texts[i:i + batch], generator=gens, output_type="np", **{**(base or DEFAULTS), **overrides},
                   **text_options(pipe))
        clips.extend(out.frames)
    return clips


def score(items, videos) -> dict[str, dict[str, float]]:
    """Accuracy per attribute (named ones only) and of motion and colour together, for seen, held-out and all."""
    groups = ("seen", "held_out", "all")
    tally = {g: {a: [0, 0] for a in ATTRIBUTES + ("motion + colour",)} for g in groups}
    for (text, clip, held), video in zip(items, videos):
        named = motion.parse_prompt(text)
        found = motion.analyse(video).as_dict()
        right = {a: found[a] == getattr(clip, a) for a in named}
        if {"motion", "colour"} <= set(named):
            right["motion + colour"] = right["motion"] and right["colour"]
        for group in (tally["held_out" if held else "seen"], tally["all"]):
            for attribute, ok in right.items():
                group[attribute][0] += ok
                group[attribute][1] += 1
    return {g: {a: (c[0] / c[1] if c[1] else float("nan")) for a, c in t.items()} for g, t in tally.items()}


@torch.no_grad()
def vae_ceiling(pipe, n: int, seed: int, batch: int = 16, frames: int = motion.FRAMES) -> dict[str, float]:
    """Accuracy of every attribute on clean clips after an encode / decode round trip (a 2D VAE: frame by frame)."""
    rng = random.Random(seed)
    clips = [motion.random_clip(rng, allow_held_out=True) for _ in range(n)]
    found = []
    for i in range(0, n, batch):
        x = torch.from_numpy(np.stack([motion.render(c, frames) for c in clips[i:i + batch]])).float() / 127.5 - 1
        x = x.permute(0, 4, 1, 2, 3)  # [B, 3, F, H, W]
        if type(pipe.vae).__name__ == "AutoencoderKL":
            images = x.transpose(1, 2).flatten(0, 1)
            decoded = pipe.vae.decode(pipe.vae.encode(images).latent_dist.mean).sample
            decoded = decoded.unflatten(0, (-1, frames)).transpose(1, 2)
        else:
            decoded = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mean).sample
        found += [motion.analyse(((v.permute(1, 2, 3, 0).numpy() + 1) / 2).clip(0, 1)).as_dict() for v in decoded]
    return {a: float(np.mean([f[a] == getattr(c, a) for f, c in zip(found, clips)])) for a in ATTRIBUTES}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--prompts", type=int, default=100)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--card", action="store_true", help="put this table in MODEL/README.md (the model card)")
    p.add_argument("--step", type=int, help="with a --work folder: this checkpoint, not the latest")
    p.add_argument("--guidance", type=float, help="instead of the model's default (the effect of CFG)")
    p.add_argument("--frames", type=int, help="instead of the trained frame count (longer clips than trained)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    is_run = not (args.model / "model_index.json").is_file() and any((args.model / d).is_dir()
                                                                      for d in ("transformer", "unet"))
    if args.card and is_run:
        p.error("--card writes an exported model's card; a training run's folder has none")
    pipe = load_run(args.model, args.step) if is_run else load(args.model)
    items = prompts(args.prompts, args.seed)
    base = dict(defaults(pipe, args.model))
    base.update({k: v for k, v in (("guidance_scale", args.guidance), ("num_frames", args.frames)) if v is not None})
    videos = generate(pipe, [t for t, _, _ in items], list(range(args.seed, args.seed + len(items))), base=base)
    results = {"prompts": args.prompts, "defaults": base, **score(items, videos),
               "vae": vae_ceiling(pipe, args.prompts, args.seed + 2, frames=base["num_frames"])}
    text = table(results)
    print(text)
    if args.card:
        write_card(args.model, text, command("scripts.mini_motion.evaluate", argv))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def table(results: dict) -> str:
    d = results["defaults"]
    out = [f"Accuracy read back by studio.video.motion.analyse, {results['prompts']} prompts, {d['num_frames']} frames "
           f"{d['width']}x{d['height']}, {d['num_inference_steps']} steps, guidance {d['guidance_scale']:g}:", "",
           "| attribute | seen | held-out pairs | all |", "|---|---|---|---|"]
    out += [f"| {a} | {results['seen'][a]:.1%} | {results['held_out'][a]:.1%} | {results['all'][a]:.1%} |"
            for a in results["all"]]
    out += ["", f"The VAE's ceiling ({results['prompts']} clean clips encoded and decoded, then analysed): "
            + ", ".join(f"{a} {v:.1%}" for a, v in results["vae"].items()) + "."]
    return "\n".join(out)


def write_card(folder: Path, evaluation: str, command: str) -> None:
    """Replace the card's evaluation section (written by the training recipe without figures) with this run's
    table."""
    card = folder / "README.md"
    head = card.read_text(encoding="utf-8").split("\n## Evaluation")[0].rstrip()
    card.write_text(f"{head}\n\n## Evaluation\n\n`{command}`:\n\n{evaluation}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
