"""Which pictures may share one device call (issue 39): the merge key of a batch of an image job.

When a learner's turn comes, the scheduler (studio.core.scheduler) lets the units next in line ride in the same
call when their keys are equal. A key is derived from the *whole* ImageJob minus the row fields, so a field a later
feature adds (a schedule type, ControlNet units) keeps jobs that differ in it apart without anyone remembering to.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass

from studio.image.engine import ImageJob


# What each row of a merged call brings; every other field of ImageJob, now and added later, must be equal. CFG is a
# row's own (studio.image.row_guidance) as long as it is on: the key keeps whether it is (> 1).
ROW_FIELDS = ("prompt", "negative_prompt", "seeds", "cfg_scale", "init_image", "mask", "control_images")


def merge_key(model: str, job: ImageJob, chunks: int | None) -> tuple | None:
    """What two jobs' batches must share to run as one call: the model, every ImageJob field but the row fields,
    the mode (a source image or mask is a row's own, but not whether there is one), whether CFG is on (its scale is
    a row's own, but not whether the UNet sees the unconditional half) and the prompts' encoded length in 75-token
    chunks (None, unknown: the batch runs alone)."""
    if chunks is None:
        return None
    shared = tuple((f.name, _frozen(getattr(job, f.name))) for f in fields(job) if f.name not in ROW_FIELDS)
    return model, job.mode, job.cfg_scale > 1, chunks, shared


def _frozen(value):
    """A comparable, hashable form of a field's value; an object without one (a callback) is only equal to itself."""
    if is_dataclass(value):
        return type(value).__name__, tuple((f.name, _frozen(getattr(value, f.name))) for f in fields(value))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value
