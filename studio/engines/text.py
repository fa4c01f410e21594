"""Text generation on a loaded causal LM (mini-poem, Qwen2.5, any local causal-LM folder).

Generation is transformers' own `generate`; the next-token view applies the same logits processors
(repetition penalty, then temperature, top-k, top-p, in generate's order) to the real logits, so the
bars a learner sees are exactly what sampling draws from.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TextJob:
    temperature: float  # 0 = greedy
    top_k: int  # 0 = off
    top_p: float  # 1 = off
    max_new_tokens: int
    repetition_penalty: float  # 1 = off
    seed: int


def uses_chat(tokenizer) -> bool:
    """Instruct models ship a chat template; base models (mini-poem) continue the text as it is."""
    return bool(getattr(tokenizer, "chat_template", None))


def encode(tm, prompt: str) -> torch.Tensor:
    """Token ids [1, n] of the prompt, wrapped in the chat template for instruct models."""
    tok = tm.tokenizer
    if uses_chat(tok):
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    else:
        ids = tok(prompt, return_tensors="pt")["input_ids"]
    return ids.to(tm.model.device)


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
    """generate() keywords: temperature 0 means greedy decoding (do_sample must be on for the rest to act)."""
    common = dict(max_new_tokens=job.max_new_tokens, repetition_penalty=job.repetition_penalty)
    if job.temperature == 0:
        return dict(do_sample=False, **common)
    return dict(do_sample=True, temperature=job.temperature, top_k=job.top_k, top_p=job.top_p, **common)


@torch.no_grad()
def generate(tm, ids: torch.Tensor, job: TextJob, streamer=None) -> str:
    """The continuation of `ids` as text (prompt not included)."""
    tok = tm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    devices = [tm.model.device] if tm.model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the seed acts on this call only
        torch.manual_seed(job.seed)
        out = tm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad,
                                streamer=streamer, **sampling_options(job))
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def token_text(tokenizer, token_id: int) -> str:
    """A token as text; a byte-level piece of a character (Qwen's BPE) shows as its raw token instead of '\ufffd'."""
    text = tokenizer.decode([token_id])
    return tokenizer.convert_ids_to_tokens(token_id) if "\ufffd" in text else text


@torch.no_grad()
def distribution(tm, ids: torch.Tensor, temperature: float, top_k: int, top_p: float,
                 repetition_penalty: float, n: int) -> list[dict]:
    """The n most likely next tokens: probability before and after temperature, the cumulative sum, and
    whether top-k / top-p keep the token, with the final probability sampling draws from."""
    from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                              TopKLogitsWarper, TopPLogitsWarper)
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
    order = torch.argsort(raw, descending=True)[:n]
    cumulative = torch.cumsum(tempered[torch.argsort(tempered, descending=True)], 0)
    rows = []
    for rank, i in enumerate(order.tolist()):
        rows.append(dict(rank=rank + 1, token_id=i, token=token_text(tm.tokenizer, i), p_raw=float(raw[i]),
                         p_temperature=float(tempered[i]), cumulative=float(cumulative[rank]),
                         kept=bool(kept[i]), p_final=float(final[i])))
    return rows
