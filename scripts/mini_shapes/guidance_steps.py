"""Where does high CFG hurt mini-shapes? Adherence by CFG, then CFG 3 with 12 in one window of steps at a time.

    python -m scripts.mini_shapes.guidance_steps assets/models/mini-shapes [--prompts 400] [--seed 7777]

The prompts are evaluate.py's (another seed than its 2024, so these are pictures the card's tables did not see);
DPM++ 2M, 20 steps. A window that costs adherence is where guidance multiplies the model's own error: the card's
"What it cannot do" quotes these tables.
"""
from __future__ import annotations

import torch

from scripts.mini_shapes import evaluate as ev


WINDOWS = ((0, 4), (4, 10), (10, 20))  # steps [start, end) at CFG 12, the rest at CFG 3
STEPS, LOW, HIGH = 20, 3.0, 12.0


def generate(pipe, texts, seeds, guidance) -> list:
    """evaluate.generate with guidance(step) as each step's CFG (the pipeline reads _guidance_scale every step)."""
    def next_step(p, i, t, kwargs):
        p._guidance_scale = guidance(i + 1)
        return kwargs
    return ev.generate(pipe, texts, seeds, guidance(0), STEPS, callback_on_step_end=next_step,
                       callback_on_step_end_tensor_inputs=[])


def main(argv=None) -> dict:
    p = ev.script_parser(__doc__, prompts=400, seed=7777)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = ev.load(args.model)
    items, texts, seeds, counts = ev.prompt_set(args.prompts, args.seed)
    runs = {f"CFG {cfg:g}": (lambda step, cfg=cfg: cfg) for cfg in (1.0, LOW, 7.0, HIGH)}
    runs |= {f"CFG {LOW:g}, {HIGH:g} in steps {a}-{b - 1}": (lambda step, a=a, b=b: HIGH if a <= step < b else LOW)
             for a, b in WINDOWS}
    results = {}
    print(f"Adherence (± standard error), {args.prompts} prompts of seed {args.seed}, {ev.SAMPLER}, {STEPS} steps:\n")
    print("| guidance | seen | held-out | shape, seen |\n|---|---|---|---|")
    for name, guidance in runs.items():
        score = ev.score(items, generate(pipe, texts, seeds, guidance))
        results[name] = score
        seen, held_out = ev.adherence_cells(score, counts)
        print(f"| {name} | {seen} | {held_out} | {score['seen']['shape']:.1%} |", flush=True)
    return results


if __name__ == "__main__":
    main()
