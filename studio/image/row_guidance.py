"""Each row of a merged call with its own CFG scale (issue 39): learners who differ only in CFG share one call.

diffusers' pipelines take one `guidance_scale` G for the whole batch and combine the UNet's two halves as
`uncond + G * (text - uncond)`. A forward hook on the UNet moves each row's text half to
`uncond + (g / G) * (text - uncond)` before that, so the pipeline's own line gives `uncond + g * (text - uncond)`:
the row's lone run, up to float rounding. Rows whose scale is G are left untouched (bit for bit their lone run's).
Only for rows that all use CFG (g > 1; studio.image.merging keeps the others apart: without CFG the UNet sees one
half).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


def call_scale(scales: list[float]) -> float:
    """The one guidance_scale handed to the pipeline: the largest row's (so every row's ratio g / G is <= 1)."""
    return max(scales)


@contextmanager
def per_row(pipe, scales: list[float]):
    """While the call runs, each row's text half is rescaled to its own scale (a hook on `pipe.unet`); nothing is
    hooked, nor the UNet looked for, when the rows agree (the common case: one learner, or a class on the same
    settings)."""
    if len(set(scales)) == 1:
        yield
        return
    big = call_scale(scales)
    ratios = torch.tensor([g / big for g in scales])
    moved = [i for i, g in enumerate(scales) if g != big]

    def hook(_module, _args, output):
        sample = output[0] if isinstance(output, tuple) else output.sample
        if sample.shape[0] != 2 * len(scales):  # not a guided step (both halves): nothing to rescale
            return output
        uncond, text = sample.chunk(2)
        r = ratios.to(sample.device, sample.dtype).view(-1, *[1] * (sample.ndim - 1))
        text[moved] = uncond[moved] + r[moved] * (text[moved] - uncond[moved])
        return output

    handle = pipe.unet.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
