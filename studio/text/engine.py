"""Text generation on a loaded causal LM (mini-poem, Qwen2.5, any local causal-LM folder).

Generation is the studio's own decode loop (`decode`): the same forward passes, logits processors and draws as
transformers' `generate`, so the same seed gives the same text, but sampling uses the job's own torch.Generator
instead of the global RNG, so jobs interleaved between tokens keep their seed's output. The next-token view
applies the same logits processors (repetition penalty, then temperature, top-k, top-p, in generate's order) to
the real logits, so the bars a learner sees are exactly what sampling draws from.
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
    """generate() keywords of a job: its sampling and its length (the 查看代码 script passes these)."""
    return dict(job.sampling.generate_options(), max_new_tokens=job.max_new_tokens)


def processor_stages(sampling: Sampling) -> tuple[list, list, list]:
    """The logits processors transformers' generate() builds for these knobs, in its order, as three stages:
    (repetition penalty,), (temperature,), (top-k, top-p). Greedy decoding keeps only the penalty (then argmax).
    Decoding and the next-token view both take them from here, so the bars show what sampling draws from."""
    from transformers import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )
    penalty = ([RepetitionPenaltyLogitsProcessor(float(sampling.repetition_penalty))]
               if sampling.repetition_penalty != 1.0 else [])
    if sampling.greedy:
        return penalty, [], []
    temperature = [TemperatureLogitsWarper(float(sampling.temperature))] if sampling.temperature != 1.0 else []
    cut = (([TopKLogitsWarper(int(sampling.top_k))] if sampling.top_k != 0 else []) +
           ([TopPLogitsWarper(float(sampling.top_p))] if sampling.top_p < 1.0 else []))
    return penalty, temperature, cut


def logits_processors(sampling: Sampling):
    """All of processor_stages as one LogitsProcessorList, applied to (prompt + new ids, last logits)."""
    from transformers import LogitsProcessorList
    return LogitsProcessorList([p for stage in processor_stages(sampling) for p in stage])


def eos_ids(model) -> set[int]:
    """The token ids that end generation: the generation config's eos_token_id (an int or a list), else the
    model config's."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}


@torch.no_grad()
def decode(tm, ids: torch.Tensor, job: TextJob, stop: threading.Event | None = None) -> Iterator[int]:
    """The new token ids after `ids`, one at a time, as generate() would draw them for this job's seed.

    The studio's own loop rather than generate(): it samples with the job's own torch.Generator, never the
    global RNG, so jobs interleaved between tokens (a fair scheduler, other learners on the same device) each
    still get their seed's text. Forward with a KV cache, the last position's logits through generate()'s logits
    processors, then argmax (greedy) or one multinomial draw from softmax, exactly as generate() computes them.
    It ends after an EOS token (which is yielded, as generate() keeps it), after max_new_tokens, or when `stop` is
    set: `stop.is_set()` is polled once per token, after each token and before the next forward step.
    """
    model = tm.model
    processors = logits_processors(job.sampling)
    sample = not job.sampling.greedy
    g = torch.Generator(device=model.device).manual_seed(job.seed) if sample else None
    eos = eos_ids(model)
    seq = ids
    step = ids  # the prompt first, then one new token at a time
    past = None
    for made in range(job.max_new_tokens):
        if made and stop is not None and stop.is_set():
            return
        out = model(input_ids=step, attention_mask=torch.ones_like(seq), past_key_values=past, use_cache=True)
        past = out.past_key_values
        scores = processors(seq, out.logits[:, -1].to(copy=True, dtype=torch.float32, device=seq.device))
        del out
        if sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1, generator=g)
        else:
            token = torch.argmax(scores, dim=-1, keepdim=True)
        step = token.to(seq.dtype)
        seq = torch.cat([seq, step], dim=-1)
        token_id = int(token)
        yield token_id
        if token_id in eos:
            return


def generate_ids(tm, ids: torch.Tensor, job: TextJob, streamer=None, stop: threading.Event | None = None) -> list[int]:
    """The new token ids after `ids` (a transformers streamer, if given, gets them as generate() hands them)."""
    if streamer is not None:
        streamer.put(ids.cpu())
    new = []
    for token in decode(tm, ids, job, stop):
        new.append(token)
        if streamer is not None:
            streamer.put(torch.tensor([token]))
    if streamer is not None:
        streamer.end()
    return new


def generate(tm, ids: torch.Tensor, job: TextJob, stop: threading.Event | None = None) -> str:
    """The continuation of `ids` as text (prompt not included)."""
    return tm.tokenizer.decode(generate_ids(tm, ids, job, stop=stop), skip_special_tokens=True)


def stream(tm, ids: torch.Tensor, job: TextJob, stop: threading.Event | None = None) -> Iterator[str]:
    """The continuation so far, after each decoded piece; the last value equals generate()'s text.

    Runs in the caller's thread, one token per step of this iterator: if the caller stops reading (a closed
    page), generation stops with it. As transformers' TextStreamer does, a value ends at a settled point (a
    newline, a CJK character, or after the last space), so an unfinished multi-byte character or word is held
    back until the next token completes it; each value extends the one before.
    """
    tok = tm.tokenizer
    new: list[int] = []
    shown = ""
    for token in decode(tm, ids, job, stop):
        new.append(token)
        text = _settled(tok.decode(new, skip_special_tokens=True))
        if len(text) > len(shown) and text.startswith(shown):
            shown = text
            yield shown
    final = tok.decode(new, skip_special_tokens=True)
    if final != shown or not shown:  # the tail held back, or nothing at all
        yield final


def _settled(text: str) -> str:
    """The part of a partial decode the next token cannot change: TextStreamer's rule (all of it after a newline
    or a CJK character, else up to the last space), never an unfinished character at the end ('\ufffd')."""
    text = text.rstrip("\ufffd")  # a character still missing bytes waits for them (earlier ones are final)
    if text.endswith("\n") or (text and _is_cjk(text[-1])):
        return text
    return text[:text.rfind(" ") + 1]


def _is_cjk(char: str) -> bool:
    """TextStreamer's CJK ranges: such a character is a whole word by itself."""
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def token_text(tokenizer, token_id: int) -> str:
    """A token as text; a byte-level piece of a character (Qwen's BPE) shows as its raw token instead of '\ufffd'."""
    text = tokenizer.decode([token_id])
    return tokenizer.convert_ids_to_tokens(token_id) if "\ufffd" in text else text


@torch.no_grad()
def probabilities(tm, ids: torch.Tensor,
                  sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(raw, after temperature, final, kept) over the vocabulary for the token after `ids`, through the same
    processors decoding applies (processor_stages), in generate()'s order: repetition penalty, temperature, top-k,
    top-p."""
    from transformers import LogitsProcessorList
    penalty, temperature, cut = (LogitsProcessorList(stage) for stage in processor_stages(sampling))
    logits = penalty(ids, tm.model(input_ids=ids).logits[:, -1, :].float())
    raw = torch.softmax(logits, dim=-1)[0]
    if sampling.greedy:  # all the mass on the most likely token
        final = torch.zeros_like(raw)
        final[raw.argmax()] = 1.0
        tempered, kept = final, final > 0
    else:
        warped = temperature(ids, logits)
        tempered = torch.softmax(warped, dim=-1)[0]
        kept_logits = cut(ids, warped)
        final = torch.softmax(kept_logits, dim=-1)[0]
        kept = torch.isfinite(kept_logits[0])
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
