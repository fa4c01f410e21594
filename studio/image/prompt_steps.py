"""Prompt editing and alternation during a run: the embeddings each row uses at each sampling step.

studio.image.prompt_schedule says which text each step uses; here each distinct text is encoded once and swapped in
through diffusers' `callback_on_step_end` (the pipelines read `prompt_embeds`, and SDXL's pooled `add_text_embeds`,
back from it), row by row, so rows of a merged call each follow their own prompt.

Steps are counted as A1111's denoiser counts them: from 0 in each pass, step s using the first schedule entry with
s <= until_step ("[b:3]" of 10: steps 0-3 see "a ", steps 4-9 "a b"); image to image and the hires pass count from
their first step that runs. A second-order sampler (Heun, DPM2) evaluates the model twice per step; both evaluations
use that step's prompt.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from studio.image import weighting
from studio.image.prompt_schedule import prompt_schedule


@dataclass(frozen=True)
class Segment:
    until: int  # the last (0-based) step of the pass that uses these texts
    prompt: str
    negative: str


def segments(job, hires: bool = False) -> list[Segment]:
    """The job's prompt and negative prompt as they change over a pass (the first, or the hires pass)."""
    hires_steps = job.hires.steps if hires else None
    old = job.use_old_scheduling
    positive = prompt_schedule(job.prompt, job.steps, hires_steps, old)
    negative = prompt_schedule(job.negative_prompt, job.steps, hires_steps, old)
    ends = sorted({until for until, _ in positive} | {until for until, _ in negative})
    return [Segment(end, _at(positive, end), _at(negative, end)) for end in ends]


def _at(schedule: list[list], step: int) -> str:
    return next((text for until, text in schedule if step <= until), schedule[-1][1])


def index_at(parts: list[Segment], step: int) -> int:
    """Which segment a (0-based) step uses: the first whose `until` is not before it (A1111's rule)."""
    return next((i for i, part in enumerate(parts) if step <= part.until), len(parts) - 1)


def texts(job) -> list[str]:
    """Every text the job encodes in any pass (the merge key counts their 75-token chunks)."""
    passes = [segments(job)] + ([segments(job, hires=True)] if job.hires is not None else [])
    return sorted({text for parts in passes for part in parts for text in (part.prompt, part.negative)})


class Stepwise:
    """The rows' conditioning for one pass of a call: the first step's keyword arguments, and `swap` for the
    callback, which sets the next step's embeddings where any row's texts change."""

    def __init__(self, pipe, jobs: list, parts: list[list[Segment]], encode):
        """jobs: each unit's job; parts: each job's segments for this pass; encode(job) -> embeddings dict for its
        rows (the engine's own encoding, so a text encodes as it would without prompt editing)."""
        self.parts = parts
        length = 77 * max(weighting.token_count(pipe.tokenizer, text)["chunks"]
                          for job in jobs for text in texts(job))
        empty = None
        self.encoded: list[list[dict]] = []  # [unit][segment] -> embeddings padded to `length`
        for job, unit_parts in zip(jobs, parts):
            cache: dict = {}
            for part in unit_parts:
                if (part.prompt, part.negative) not in cache:
                    embeds = encode(_with_texts(job, part))
                    if any(e.shape[1] < length for name, e in embeds.items() if e.dim() == 3):
                        empty = empty if empty is not None else _empty_chunk(pipe)
                    cache[(part.prompt, part.negative)] = _padded(embeds, empty, length)
            self.encoded.append([cache[(part.prompt, part.negative)] for part in unit_parts])
        self.current = [0] * len(jobs)

    def first(self) -> dict:
        return _stacked([unit[0] for unit in self.encoded])

    def swap(self, pipe, i: int, tensors: dict) -> dict:
        """After loop iteration i: the next step's embeddings, when a row's texts change."""
        step = (i + 1) // getattr(pipe.scheduler, "order", 1)
        wanted = [index_at(unit_parts, step) for unit_parts in self.parts]
        if wanted == self.current:
            return tensors
        self.current = wanted
        now = _stacked([unit[k] for unit, k in zip(self.encoded, wanted)])
        guided = pipe.do_classifier_free_guidance  # the pipeline then runs [negative rows, positive rows]
        tensors["prompt_embeds"] = _sides(now, "negative_prompt_embeds", "prompt_embeds", guided)
        if "pooled_prompt_embeds" in now:
            tensors["add_text_embeds"] = _sides(now, "negative_pooled_prompt_embeds", "pooled_prompt_embeds", guided)
        return tensors

    @property
    def tensor_inputs(self) -> list[str]:
        return ["prompt_embeds"] + (["add_text_embeds"] if "pooled_prompt_embeds" in self.encoded[0][0] else [])


def is_static(parts: list[Segment], job) -> bool:
    """One segment with the job's own texts: the run needs nothing from this module."""
    return len(parts) == 1 and (parts[0].prompt, parts[0].negative) == (job.prompt, job.negative_prompt)


def _with_texts(job, part: Segment):
    return replace(job, prompt=part.prompt, negative_prompt=part.negative)


def _sides(embeds: dict, negative: str, positive: str, guided: bool) -> torch.Tensor:
    return torch.cat([embeds[negative], embeds[positive]]) if guided else embeds[positive]


def _stacked(rows: list[dict]) -> dict:
    return {name: torch.cat([r[name] for r in rows]) for name in rows[0]}


@torch.no_grad()
def _empty_chunk(pipe) -> torch.Tensor:
    """The empty prompt's 77-token embedding (what compel pads with too)."""
    return pipe.encode_prompt(prompt=[""], device=pipe._execution_device, num_images_per_prompt=1,
                              do_classifier_free_guidance=False)[0]


def _padded(embeds: dict, empty: torch.Tensor | None, length: int) -> dict:
    """Token embeddings of fewer chunks than `length` get extra empty chunks, so every step's tensors stack (SDXL's
    zeroed empty negative gets zeros)."""
    out = {}
    for name, e in embeds.items():
        while e.dim() == 3 and e.shape[1] < length:
            chunk = empty.to(e.dtype) if e.any() else torch.zeros_like(e[:, :77])
            e = torch.cat([e, chunk.expand(e.shape[0], -1, -1)], dim=1)
        out[name] = e
    return out
