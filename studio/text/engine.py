"""Text generation on a loaded causal LM (mini-poem, Qwen2.5, any local causal-LM folder).

Generation is transformers' own `generate`; the next-token view applies the same logits processors
(repetition penalty, then temperature, top-k, top-p, in generate's order) to the real logits, so the
bars a learner sees are exactly what sampling draws from.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import torch

from studio.text.sampling import Sampling


@dataclass
class TextJob:
    sampling: Sampling
    max_new_tokens: int
    seed: int


def uses_chat(tokenizer) -> bool:
    """Instruct models ship a chat template; base models (mini-poem) continue the text as it is."""
    return bool(getattr(tokenizer, "chat_template", None))


def encode(tm, prompt: str) -> torch.Tensor:
    """Token ids [1, n] of the prompt, wrapped in the chat template for instruct models."""
    if uses_chat(tm.tokenizer):
        return encode_messages(tm, [{"role": "user", "content": prompt}])
    return tm.tokenizer(prompt, return_tensors="pt")["input_ids"].to(tm.model.device)


def encode_messages(tm, messages: list[dict]) -> torch.Tensor:
    """Token ids [1, n] of a conversation through the model's chat template, ready for the assistant's turn."""
    tok = tm.tokenizer
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(tm.model.device)


def context_window(tm) -> int:
    config = tm.model.config
    for name in ("max_position_embeddings", "n_positions"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return int(min(tm.tokenizer.model_max_length, 1 << 20))


def fit_context(tm, ids: torch.Tensor, max_new_tokens: int) -> tuple[torch.Tensor, int]:
    """Cut the prompt from the left so that prompt + new tokens fit the context; (ids, tokens dropped).

    A leading BOS token (mini-poem's <s>) stays: the model has only ever seen text after it.
    """
    room = context_window(tm) - max_new_tokens
    if ids.shape[1] <= room:
        return ids, 0
    bos = tm.tokenizer.bos_token_id
    keep_bos = bos is not None and int(ids[0, 0]) == bos
    head = ids[:, :1] if keep_bos else ids[:, :0]
    tail = ids[:, ids.shape[1] - (room - head.shape[1]):]
    return torch.cat([head, tail], dim=1), ids.shape[1] - room


def sampling_options(job: TextJob) -> dict:
    """generate() keywords of a job: its sampling and its length."""
    return dict(job.sampling.generate_options(), max_new_tokens=job.max_new_tokens)


def _stop_criteria(stop: threading.Event | None):
    """generate() ends at the next token once `stop` is set (the page's 停止 button)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class OnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([OnEvent()]) if stop is not None else None


@torch.no_grad()
def generate_ids(tm, ids: torch.Tensor, job: TextJob, streamer=None, stop: threading.Event | None = None) -> list[int]:
    """The new token ids after `ids`."""
    tok = tm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    devices = [tm.model.device] if tm.model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the seed acts on this call only
        torch.manual_seed(job.seed)
        out = tm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad,
                                streamer=streamer, stopping_criteria=_stop_criteria(stop), **sampling_options(job))
    return out[0, ids.shape[1]:].tolist()


def generate(tm, ids: torch.Tensor, job: TextJob, stop: threading.Event | None = None) -> str:
    """The continuation of `ids` as text (prompt not included)."""
    return tm.tokenizer.decode(generate_ids(tm, ids, job, stop=stop), skip_special_tokens=True)


def stream(tm, ids: torch.Tensor, job: TextJob, stop: threading.Event | None = None) -> Iterator[str]:
    """The continuation so far, after each decoded piece; the last value equals generate()'s text.

    transformers' TextIteratorStreamer hands pieces over from generate() running in a worker thread. If the
    caller stops reading (a closed page), generation halts at the next token and the worker is joined before
    this returns, so the model is never left running outside its lease.
    """
    from transformers import TextIteratorStreamer
    streamer = TextIteratorStreamer(tm.tokenizer, skip_prompt=True, skip_special_tokens=True)
    halt = _Either(stop)
    result: dict = {}

    def work():
        try:
            result["ids"] = generate_ids(tm, ids, job, streamer, halt)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
            streamer.end()

    worker = threading.Thread(target=work, daemon=True, name="studio-text")
    worker.start()
    text = ""
    try:
        for piece in streamer:
            text += piece
            if piece:
                yield text
    finally:
        halt.set()
        worker.join()
    if "error" in result:
        raise result["error"]
    final = tm.tokenizer.decode(result["ids"], skip_special_tokens=True)
    if final != text or not text:  # the streamer holds back an unfinished character; the ids are the truth
        yield final


class _Either(threading.Event):
    """Set when this event or the caller's `stop` is."""

    def __init__(self, other: threading.Event | None):
        super().__init__()
        self._other = other

    def is_set(self) -> bool:
        return super().is_set() or (self._other is not None and self._other.is_set())


def token_text(tokenizer, token_id: int) -> str:
    """A token as text; a byte-level piece of a character (Qwen's BPE) shows as its raw token instead of '\ufffd'."""
    text = tokenizer.decode([token_id])
    return tokenizer.convert_ids_to_tokens(token_id) if "\ufffd" in text else text


@torch.no_grad()
def probabilities(tm, ids: torch.Tensor,
                  sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(raw, after temperature, final, kept) over the vocabulary for the token after `ids`, through the same
    processors generate() applies, in its order: repetition penalty, temperature, top-k, top-p."""
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )
    temperature, top_k, top_p, repetition_penalty = (sampling.temperature, sampling.top_k, sampling.top_p,
                                                     sampling.repetition_penalty)
    logits = tm.model(input_ids=ids).logits[:, -1, :].float()
    if repetition_penalty != 1.0:
        logits = RepetitionPenaltyLogitsProcessor(repetition_penalty)(ids, logits)
    raw = torch.softmax(logits, dim=-1)[0]
    if temperature == 0:  # greedy: all the mass on the most likely token
        final = torch.zeros_like(raw)
        final[raw.argmax()] = 1.0
        tempered, kept = final, final > 0
    else:
        warped = TemperatureLogitsWarper(temperature)(ids, logits)
        tempered = torch.softmax(warped, dim=-1)[0]
        cut = LogitsProcessorList(([TopKLogitsWarper(top_k)] if top_k > 0 else []) +
                                  ([TopPLogitsWarper(top_p)] if top_p < 1.0 else []))(ids, warped)
        final = torch.softmax(cut, dim=-1)[0]
        kept = torch.isfinite(cut[0])
    return raw, tempered, final, kept


def distribution(tm, ids: torch.Tensor, sampling: Sampling, n: int) -> list[dict]:
    """The n most likely next tokens: probability before and after temperature, the cumulative sum, and
    whether top-k / top-p keep the token, with the final probability sampling draws from."""
    raw, tempered, final, kept = probabilities(tm, ids, sampling)
    order = torch.argsort(raw, descending=True)[:n]
    cumulative = torch.cumsum(tempered[torch.argsort(tempered, descending=True)], 0)
    rows = []
    for rank, i in enumerate(order.tolist()):
        rows.append(dict(rank=rank + 1, token_id=i, token=token_text(tm.tokenizer, i), p_raw=float(raw[i]),
                         p_temperature=float(tempered[i]), cumulative=float(cumulative[rank]),
                         kept=bool(kept[i]), p_final=float(final[i])))
    return rows


def sample_next(tm, ids: torch.Tensor, sampling: Sampling, seed: int) -> int:
    """One token drawn from the final distribution (the most likely one at temperature 0), seeded."""
    _raw, _tempered, final, _kept = probabilities(tm, ids, sampling)
    if sampling.greedy:
        return int(final.argmax())
    return int(torch.multinomial(final.cpu(), 1, generator=torch.Generator().manual_seed(seed)))
