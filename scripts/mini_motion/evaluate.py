"""Measure mini-motion with the deterministic clip analyser (studio.motion.analyse) and print a table.

    python scripts/mini_motion/evaluate.py assets/models/mini-motion [--prompts 100] [--json eval.json]
    python scripts/mini_motion/evaluate.py runs/mini-motion [--step 4000] [--prompts 40]    # a training checkpoint

Given train.py's --work folder instead of an exported one, it evaluates a transformer checkpoint (the latest, or
--step) with its EMA weights, as the export would hold them: a learning curve without waiting for the run's end.

Generates one clip per random prompt (seeded; a quarter of them name a held-out shape-colour pair) at the model's
defaults (17 frames, 64x64, 20 steps, guidance 5, UniPC) and reads motion, colour, background and shape back.
Only attributes the prompt names are scored; "motion + colour" counts clips with both right (the target: 80%).
Then the VAE's ceiling: clean clips encoded and decoded, then analysed. The transformer works in the VAE's
latents, so what the round trip loses cannot come out right however well the prompt is followed.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from studio import motion, shapes  # noqa: E402
from studio.engines.video import text_options  # noqa: E402

DEFAULTS = dict(num_frames=motion.FRAMES, height=motion.SIZE, width=motion.SIZE, num_inference_steps=20,
                guidance_scale=5.0)
ATTRIBUTES = ("motion", "colour", "background", "shape")


def load(folder: Path):
    """As studio.loaders.load_wan does on a CPU: everything in fp32."""
    from diffusers import AutoencoderKLWan, WanPipeline
    vae = AutoencoderKLWan.from_pretrained(folder, subfolder="vae", dtype=torch.float32)
    pipe = WanPipeline.from_pretrained(folder, vae=vae, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _train_script():
    """train.py of this folder under its own module name: mini-shapes' and mini-poem's scripts are "train" too, and
    a plain `import train` would stand in for theirs in the same process (the test run)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("mini_motion_train", Path(__file__).with_name("train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_run(work: Path, step: int | None = None):
    """A WanPipeline of a training run's checkpoint: the EMA transformer and text encoder of transformer/step-N
    (built with the settings the run was started with, its args.json), its last VAE checkpoint and the latent
    statistics of its cache, put together as the export does."""
    from safetensors.torch import load_model
    train = _train_script()
    steps = sorted((work / "transformer").glob("step-*"))
    chosen = [c for c in steps if step is None or c.name == f"step-{step:06d}"]
    if not chosen:
        sys.exit(f"no transformer checkpoint {step or ''} in {work}; there are {[c.name for c in steps]}")
    saved = work / "args.json"
    run = train.parse_args(json.loads(saved.read_text())["argv"] if saved.is_file() else ["--work", "-", "--out", "-"])
    tokenizer = train.build_tokenizer()
    transformer = train.make_transformer(run.patch, run.layers)
    text_encoder = train.make_text_encoder(len(tokenizer), run.text_layers)
    vae = train.make_vae()
    load_model(transformer, str(chosen[-1] / "ema_transformer.safetensors"))
    load_model(text_encoder, str(chosen[-1] / "ema_text_encoder.safetensors"))
    vae_checkpoint = sorted((work / "vae").glob("step-*"))[-1]
    load_model(vae, str(vae_checkpoint / "vae.safetensors"))
    vae_steps = int(vae_checkpoint.name.split("-")[1])  # the cache is named after the VAE it was encoded with
    stats = torch.load(sorted(work.glob(f"latents-*-{vae_steps}.pt"))[-1], weights_only=True)
    pipe = train.pipeline(tokenizer, text_encoder.eval(), vae.eval(), transformer.eval(), stats["mean"].tolist(),
                          stats["std"].tolist(), run.flow_shift)
    pipe.set_progress_bar_config(disable=True)
    print(f"{work}: {chosen[-1].name}", flush=True)
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


def generate(pipe, texts: list[str], seeds: list[int], batch: int = 10, **overrides) -> list:
    """Clips as float arrays [F, H, W, 3] in [0, 1]."""
    clips = []
    for i in range(0, len(texts), batch):
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds[i:i + batch]]
        # text_options: the prompt padding the model was trained with, as the studio passes it (v5 was first
        # evaluated with Wan's 512, which drowns a 32-token model's prompt).
        out = pipe(prompt=texts[i:i + batch], generator=gens, output_type="np", **{**DEFAULTS, **overrides},
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
def vae_ceiling(pipe, n: int, seed: int, batch: int = 16) -> dict[str, float]:
    """Accuracy of every attribute on clean clips after an encode / decode round trip."""
    rng = random.Random(seed)
    clips = [motion.random_clip(rng, allow_held_out=True) for _ in range(n)]
    found = []
    for i in range(0, n, batch):
        frames = np.stack([motion.render(c) for c in clips[i:i + batch]])
        x = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 127.5 - 1  # [B, 3, F, H, W]
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
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    is_run = not (args.model / "model_index.json").is_file() and (args.model / "transformer").is_dir()
    if args.card and is_run:
        p.error("--card writes an exported model's card; a training run's folder has none")
    pipe = load_run(args.model, args.step) if is_run else load(args.model)
    items = prompts(args.prompts, args.seed)
    videos = generate(pipe, [t for t, _, _ in items], list(range(args.seed, args.seed + len(items))))
    results = {"prompts": args.prompts, "defaults": DEFAULTS, **score(items, videos),
               "vae": vae_ceiling(pipe, args.prompts, args.seed + 2)}
    text = table(results)
    print(text)
    if args.card:
        write_card(args.model, text, "python scripts/mini_motion/evaluate.py " + " ".join(argv or sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def table(results: dict) -> str:
    d = results["defaults"]
    out = [f"Accuracy read back by studio.motion.analyse, {results['prompts']} prompts, {d['num_frames']} frames "
           f"{d['width']}x{d['height']}, {d['num_inference_steps']} steps, guidance {d['guidance_scale']:g}:", "",
           "| attribute | seen | held-out pairs | all |", "|---|---|---|---|"]
    out += [f"| {a} | {results['seen'][a]:.1%} | {results['held_out'][a]:.1%} | {results['all'][a]:.1%} |"
            for a in results["all"]]
    out += ["", f"The VAE's ceiling ({results['prompts']} clean clips encoded and decoded, then analysed): "
            + ", ".join(f"{a} {v:.1%}" for a, v in results["vae"].items()) + "."]
    return "\n".join(out)


def write_card(folder: Path, evaluation: str, command: str) -> None:
    """Replace the card's evaluation section (written by train.py without figures) with this run's table."""
    card = folder / "README.md"
    head = card.read_text(encoding="utf-8").split("\n## Evaluation")[0].rstrip()
    card.write_text(f"{head}\n\n## Evaluation\n\n`{command}`:\n\n{evaluation}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
