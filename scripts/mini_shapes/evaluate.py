"""Measure mini-shapes with the deterministic image analyser (studio.shapes.analyse) and print tables.

    python scripts/mini_shapes/evaluate.py assets/models/mini-shapes [--prompts 200] [--json eval.json]

1. Attribute accuracy on 200 random prompts (a quarter of them name a held-out shape-colour pair), at CFG 7,
   20 steps, DPM++ 2M Karras, analysed at the native 64x64. Only attributes the prompt names are scored.
2. The same at CFG 1, 3, 7, 12: adherence should rise with CFG.
3. Distance to the clean rendering (mean absolute difference, 0-255) of fully specified prompts at 2, 4 and 20
   steps: few steps should be visibly worse.
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

from studio import shapes  # noqa: E402
from studio.samplers import make_scheduler  # noqa: E402

ATTRIBUTES = ("shape", "colour", "background", "size", "position")


def load(folder: Path):
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def prompts(n: int, seed: int) -> list[tuple[str, shapes.Spec, bool]]:
    """(prompt, spec, held_out). Held-out prompts always name their shape and colour."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        held = i % 4 == 3
        spec = shapes.random_spec(rng, allow_held_out=held)
        if held:
            shape, colour = sorted(shapes.HELD_OUT)[rng.randrange(len(shapes.HELD_OUT))]
            background = rng.choice([c for c in shapes.COLOURS if c != colour])
            spec = replace(spec, shape=shape, colour=colour, background=background)
        text = shapes.caption(spec, rng, drop=0.2)
        if held and not {"shape", "colour"} <= set(shapes.parse_prompt(text)):
            text = shapes.caption(spec, rng, drop=0.0)
        out.append((text, spec, held))
    return out


def generate(pipe, texts: list[str], seeds: list[int], cfg: float, steps: int, batch: int = 25) -> list:
    pipe.scheduler = make_scheduler("DPM++ 2M Karras", pipe.scheduler.config)
    images = []
    for i in range(0, len(texts), batch):
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds[i:i + batch]]
        out = pipe(prompt=texts[i:i + batch], num_inference_steps=steps, guidance_scale=cfg, width=shapes.SIZE,
                   height=shapes.SIZE, generator=gens)
        images.extend(out.images)
    return images


def score(items, images) -> dict[str, dict[str, float]]:
    """Accuracy per attribute, separately for seen and held-out prompts (named attributes only)."""
    tally = {group: {a: [0, 0] for a in ATTRIBUTES} for group in ("seen", "held_out")}
    for (text, spec, held), image in zip(items, images):
        named = shapes.parse_prompt(text)
        found = shapes.analyse(image).as_dict()
        for attribute in named:
            cell = tally["held_out" if held else "seen"][attribute]
            cell[0] += found[attribute] == getattr(spec, attribute)
            cell[1] += 1
    return {g: {a: (c[0] / c[1] if c[1] else float("nan")) for a, c in t.items()} for g, t in tally.items()}


def mean_accuracy(table: dict[str, dict[str, float]]) -> float:
    values = [v for group in table.values() for v in group.values() if not np.isnan(v)]
    return float(np.mean(values))


def clean_distance(pipe, n: int, seed: int, steps: int) -> float:
    rng = random.Random(seed)
    specs = [replace(shapes.random_spec(rng), dx=0.0, dy=0.0) for _ in range(n)]
    texts = [shapes.caption(s, rng, drop=0.0) for s in specs]
    images = generate(pipe, texts, list(range(seed, seed + n)), 7.0, steps)
    diffs = [np.abs(np.asarray(img, float) - np.asarray(shapes.render(s), float)).mean() for img, s in zip(images, specs)]
    return float(np.mean(diffs))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = load(args.model)
    items = prompts(args.prompts, args.seed)
    texts, seeds = [t for t, _, _ in items], list(range(args.seed, args.seed + len(items)))
    results = {"cfg": {}, "steps": {}}
    for cfg in (1.0, 3.0, 7.0, 12.0):
        results["cfg"][cfg] = score(items, generate(pipe, texts, seeds, cfg, 20))
    n_clean = max(8, args.prompts // 4)
    results["steps"] = {steps: clean_distance(pipe, n_clean, args.seed + 1, steps) for steps in (2, 4, 20)}
    print_tables(results, args.prompts, n_clean)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


def print_tables(results: dict, n: int, n_clean: int) -> None:
    main_table = results["cfg"][7.0]
    print(f"Attribute accuracy, {n} prompts, CFG 7, 20 steps, DPM++ 2M Karras, 64x64:\n")
    print("| attribute | seen | held-out pairs |\n|---|---|---|")
    for a in ATTRIBUTES:
        print(f"| {a} | {main_table['seen'][a]:.1%} | {main_table['held_out'][a]:.1%} |")
    print("\nAdherence (mean attribute accuracy) by CFG:\n\n| CFG | seen | held-out |\n|---|---|---|")
    for cfg, table in results["cfg"].items():
        seen = np.nanmean(list(table["seen"].values()))
        held = np.nanmean(list(table["held_out"].values()))
        print(f"| {cfg:g} | {seen:.1%} | {held:.1%} |")
    print(f"\nDistance to the clean rendering ({n_clean} fully specified prompts, mean |diff|, 0-255):\n")
    print("| steps | distance |\n|---|---|")
    for steps, d in results["steps"].items():
        print(f"| {steps} | {d:.1f} |")


if __name__ == "__main__":
    main()
