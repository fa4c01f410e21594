"""Which samplers need more steps with mini-shapes? Adherence for sampler and step count pairs at CFG 7.

    python -m scripts.mini_shapes.sampler_steps assets/models/mini-shapes "LMS:20,LMS:30,LMS:40,Euler:20,LMS Karras:20"

The prompts and seeds are the card's (evaluate.py, seed 2024), so the figures sit next to its tables. "no shape"
counts the pictures in which the analyser found no shape at all: a sampler that diverges leaves smeared colour.
The card's "What it cannot do" quotes this table for LMS.
"""
from __future__ import annotations

import argparse

import torch

from scripts.mini_shapes import evaluate as ev
from studio.image import shapes
from studio.image.samplers import SAMPLERS, split


def runs(text: str) -> list[tuple[str, int]]:
    """'LMS:20,Euler a:30' -> [('LMS', 20), ('Euler a', 30)]."""
    pairs = [item.rsplit(":", 1) for item in text.split(",")]
    if any(len(pair) != 2 or split(pair[0].strip())[0] not in SAMPLERS or not pair[1].strip().isdigit()
           for pair in pairs):  # old joined names ("LMS Karras") too
        raise argparse.ArgumentTypeError(f"expected sampler:steps pairs from {', '.join(SAMPLERS)}; got {text!r}")
    return [(name.strip(), int(steps)) for name, steps in pairs]


def main(argv=None) -> dict:
    p = ev.script_parser(__doc__)
    p.add_argument("runs", type=runs, help='sampler:steps pairs, e.g. "LMS:20,Euler:20"')
    p.add_argument("--cfg", type=float, default=7.0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = ev.load(args.model)
    items, texts, seeds, counts = ev.prompt_set(args.prompts, args.seed)
    results = {}
    print(f"Adherence (± standard error), {args.prompts} prompts of seed {args.seed}, CFG {args.cfg:g}:\n")
    print("| sampler | steps | seen | held-out | no shape |\n|---|---|---|---|---|")
    for sampler, steps in args.runs:
        images = ev.generate(pipe, texts, seeds, args.cfg, steps, sampler=sampler)
        score = ev.score(items, images)
        blank = sum(shapes.analyse(image).shape is None for image in images)
        results[(sampler, steps)] = dict(score, no_shape=blank)
        seen, held_out = ev.adherence_cells(score, counts)
        print(f"| {sampler} | {steps} | {seen} | {held_out} | {blank} |", flush=True)
    return results


if __name__ == "__main__":
    main()
