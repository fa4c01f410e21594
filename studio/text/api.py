"""Text generation and the next-token distribution behind it."""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Iterator

from studio.core import validate
from studio.core.backend import routed
from studio.core.calls import caller_lang, task_spec
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.knobs import model_defaults
from studio.core.manager import manager
from studio.core.results import TextResult
from studio.text import code as textcode
from studio.text import engine as _text
from studio.text.knobs import KNOBS
from studio.text.sampling import Sampling


# -- text ---------------------------------------------------------------------------------------
MAX_NEW_TOKENS = 2048
TEXT_PROMPT_CAP = 200_000  # characters; longer input than the context window is cut from the left, with a notice
MAX_TOP_TOKENS = 50


def _prompt_ids(tm, prompt: str, max_new_tokens: int, lang: str, notices: list[str]):
    """Token ids of the prompt, cut from the left (with a notice) to leave room for the new tokens."""
    window = _text.context_window(tm)
    if max_new_tokens >= window:
        notices.append(t("notice_new_tokens_clamped", lang, asked=max_new_tokens, new=window // 2, window=window))
        max_new_tokens = window // 2
    ids, dropped = _text.fit_context(tm, _text.encode(tm, prompt), max_new_tokens)
    if dropped:
        notices.append(t("notice_prompt_truncated", lang, dropped=dropped, window=window))
    return ids, max_new_tokens


def _text_prompt(prompt) -> str:
    prompt = validate.text("prompt", prompt, TEXT_PROMPT_CAP)
    if not prompt.strip():
        raise StudioError("empty_prompt")
    return prompt


@dataclass
class _Request:
    """A checked text request: what every generation call shares."""
    model: str
    lang: str
    sampling: Sampling
    max_new_tokens: int
    seed: int
    notices: list[str]

    def job(self, new_tokens: int) -> _text.TextJob:
        return _text.TextJob(self.sampling, new_tokens, self.seed)


def _request(model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, lang) -> _Request:
    lang = caller_lang(lang)
    task_spec(model, "text")
    d = model_defaults(model)
    sampling = Sampling.checked(temperature, top_k, top_p, repetition_penalty, defaults=d)
    max_new_tokens = KNOBS["max_new_tokens"].check(d["max_new_tokens"] if max_new_tokens is None else max_new_tokens)
    notices: list[str] = []
    chosen = validate.seed(seed, lang, notices)
    return _Request(model, lang, sampling, max_new_tokens, chosen, notices)


def generate_text(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                  top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                  repetition_penalty: float | None = None, seed: int = -1, *, lang: str | None = None) -> TextResult:
    """Continue `prompt` (base models) or answer it (instruct models, through their chat template).

    temperature 0 is greedy decoding; top_k 0 and top_p 1 switch those filters off. Unset knobs take the
    model's defaults. The same seed with the same knobs gives the same text.
    """
    *_, last = stream_text(prompt, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
                           lang=lang, streaming=False)
    return last


@routed("text", stream=True)
def stream_text(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                repetition_penalty: float | None = None, seed: int = -1, *, stop: threading.Event | None = None,
                lang: str | None = None, streaming: bool = True) -> Iterator[TextResult]:
    """generate_text, token by token: yields the text so far as TextResult; the last one is the whole answer
    (the same text generate_text gives for the same seed). Setting `stop` ends it after the current token."""
    r = _request(model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, lang)
    prompt = _text_prompt(prompt)
    return _run_stream(r, lambda tm: _prompt_ids(tm, prompt, r.max_new_tokens, r.lang, r.notices), stop, streaming)


def chat(messages: list[dict], model: str = "qwen2.5-0.5b", temperature: float | None = None,
         top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
         repetition_penalty: float | None = None, seed: int = -1, *, lang: str | None = None) -> TextResult:
    """The assistant's answer to a conversation: messages = [{"role": "system" | "user" | "assistant",
    "content": ...}, ...] ending with the user's turn (the course's 继续追问优化). Instruct models only."""
    *_, last = stream_chat(messages, model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed,
                           lang=lang, streaming=False)
    return last


@routed("text", stream=True)
def stream_chat(messages: list[dict], model: str = "qwen2.5-0.5b", temperature: float | None = None,
                top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                repetition_penalty: float | None = None, seed: int = -1, *, stop: threading.Event | None = None,
                lang: str | None = None, streaming: bool = True) -> Iterator[TextResult]:
    """chat, token by token (as stream_text)."""
    r = _request(model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, lang)
    messages = _messages(messages)

    def ids(tm):
        if not _text.uses_chat(tm.tokenizer):
            raise StudioError("chat_needs_instruct", model=task_spec(model, "text").title)
        return _conversation_ids(tm, messages, r)

    return _run_stream(r, ids, stop, streaming)


def _run_stream(r: _Request, make_ids, stop, streaming: bool) -> Iterator[TextResult]:
    """Checks are done when this is called; the generator holds the model (no eviction) until it finishes."""
    def run():
        with manager().lease(r.model, exclusive=True) as tm:
            ids, new = make_ids(tm)
            chat_mode = _text.uses_chat(tm.tokenizer)
            if not streaming:
                yield TextResult(_text.generate(tm, ids, r.job(new), stop), r.seed, r.notices, chat_mode)
                return
            for text in _text.stream(tm, ids, r.job(new), stop):
                yield TextResult(text, r.seed, r.notices, chat_mode)
    return run()


ROLES = ("system", "user", "assistant")
MAX_TURNS = 200


def _messages(messages) -> list[dict]:
    """A checked conversation: roles known, contents text, the last turn the user's and not empty."""
    if not isinstance(messages, (list, tuple)) or not 1 <= len(messages) <= MAX_TURNS:
        raise StudioError("bad_messages")
    out = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise StudioError("bad_messages")
        out.append({"role": m["role"], "content": validate.text("prompt", m["content"], TEXT_PROMPT_CAP)})
    if out[-1]["role"] != "user" or not out[-1]["content"].strip():
        raise StudioError("empty_prompt")
    return out


def _conversation_ids(tm, messages: list[dict], r: _Request):
    """Token ids of the conversation; when it outgrows the context, the oldest turns go first (the system
    prompt stays), then the last turn is cut from the left. Notices say what was dropped."""
    window = _text.context_window(tm)
    new = min(r.max_new_tokens, window // 2)
    if new < r.max_new_tokens:
        r.notices.append(t("notice_new_tokens_clamped", r.lang, asked=r.max_new_tokens, new=new, window=window))
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]
    dropped = 0
    ids = _text.encode_messages(tm, system + turns)
    while ids.shape[1] + new > window and len(turns) > 1:
        turns, dropped = turns[1:], dropped + 1
        ids = _text.encode_messages(tm, system + turns)
    if dropped:
        r.notices.append(t("notice_turns_dropped", r.lang, turns=dropped, window=window))
    ids, cut = _text.fit_context(tm, ids, new)
    if cut:
        r.notices.append(t("notice_prompt_truncated", r.lang, dropped=cut, window=window))
    return ids, new


# -- the next token, and stepping through generation one token at a time ---------------------------
MAX_CONTINUATION = 512


def _continuation(tm, continuation) -> list[int]:
    """Token ids the learner has stepped through so far, checked against the vocabulary (never re-tokenised)."""
    ids = validate.items("continuation", continuation or [], MAX_CONTINUATION)
    vocab = tm.model.get_input_embeddings().num_embeddings
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab for i in ids):
        raise StudioError("bad_token_ids", vocab=vocab)
    return ids


def _stepped_ids(tm, prompt: str, continuation):
    """prompt ids + the stepped token ids, cut from the left to fit the context."""
    import torch
    base = _text.encode(tm, prompt)
    ids = torch.cat([base, torch.tensor([_continuation(tm, continuation)], dtype=base.dtype, device=base.device)], 1)
    return _text.fit_context(tm, ids, 1)[0]


@routed("text")
def token_distribution(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                       top_k: int | None = None, top_p: float | None = None, n: int = 20, *,
                       repetition_penalty: float | None = None, continuation: list[int] | None = None,
                       lang: str | None = None) -> list[dict]:
    """The n most likely next tokens after `prompt` (and the token ids `continuation` stepped through so far),
    from the model's real logits: probability before and after temperature, the cumulative sum, whether top-k /
    top-p keep each token, and the final probability sampling draws from."""
    lang = caller_lang(lang)
    task_spec(model, "text")
    d = model_defaults(model)
    prompt = _text_prompt(prompt)
    sampling = Sampling.checked(temperature, top_k, top_p, repetition_penalty, defaults=d)
    n = validate.number("n", n, 1, MAX_TOP_TOKENS, int)

    def run(tm):
        ids = _stepped_ids(tm, prompt, continuation)
        return _text.distribution(tm, ids, sampling, n)

    return manager().run(model, run)


@routed("text")
def next_token(prompt: str, model: str = "mini-poem", continuation: list[int] | None = None,
               temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
               repetition_penalty: float | None = None, seed: int = 0, *, lang: str | None = None) -> dict:
    """One step of generation by hand: the token sampling draws after `prompt` + `continuation` (token ids), as
    {"token_id", "token", "ids", "text"} where ids / text are the continuation with it. Step i uses seed + i, so
    the same seed walks the same sentence."""
    lang = caller_lang(lang)
    task_spec(model, "text")
    d = model_defaults(model)
    prompt = _text_prompt(prompt)
    sampling = Sampling.checked(temperature, top_k, top_p, repetition_penalty, defaults=d)
    seed = validate.number("seed", seed, 0, validate.MAX_SEED, int)

    def run(tm):
        ids = _stepped_ids(tm, prompt, continuation)
        steps = len(continuation or [])
        token = _text.sample_next(tm, ids, sampling, seed + steps)
        walked = [*(continuation or []), token]
        return {"token_id": token, "token": _text.token_text(tm.tokenizer, token), "ids": walked,
                "text": tm.tokenizer.decode(walked, skip_special_tokens=True)}

    return manager().run(model, run)


@routed("text")
def decode_tokens(token_ids: list[int], model: str = "mini-poem") -> dict:
    """{"text", "tokens"}: the ids decoded as one text, and each id as the piece it stands for (a stepped sentence
    shown token by token)."""
    task_spec(model, "text")

    def run(tm):
        ids = _continuation(tm, token_ids)
        return {"text": tm.tokenizer.decode(ids, skip_special_tokens=True),
                "tokens": [_text.token_text(tm.tokenizer, i) for i in ids]}

    return manager().run(model, run)


# -- token counter ----------------------------------------------------------------------------------
def count_text_tokens(prompt: str, model: str = "mini-poem") -> dict | None:
    """{"tokens", "window"}: the prompt's length in the model's own tokens (through its chat template for instruct
    models) and its context window. None when the model is not on disk yet (nothing is downloaded for counting)."""
    spec = task_spec(model, "text")
    if spec.path is None or not (spec.path / "config.json").is_file():
        return None
    tokenizer, window = _tokenizer_and_window(str(spec.path))
    prompt = validate.text("prompt", prompt, TEXT_PROMPT_CAP)
    if getattr(tokenizer, "chat_template", None):  # as engines.text.encode does
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompt)["input_ids"]
    return {"tokens": len(ids), "window": window}


@functools.lru_cache(maxsize=8)
def _tokenizer_and_window(folder: str):
    from transformers import AutoConfig, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    window = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return tokenizer, int(window or min(tokenizer.model_max_length, 1 << 20))


COURSE_TEMPERATURES = (0.2, 0.7, 1.2)  # module 5's temperature experiment


def compare_temperatures(prompt: str, model: str = "mini-poem", temperatures=COURSE_TEMPERATURES,
                         top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                         seed: int = -1, *, stop: threading.Event | None = None,
                         lang: str | None = None) -> list[TextResult]:
    """The course's experiment: the same prompt and the same seed at several temperatures (default 0.2 / 0.7 /
    1.2), so the only difference between the columns is the temperature. Setting `stop` ends it at the next token
    (StudioError "stopped": a column cut short is no result)."""
    lang = caller_lang(lang)
    temperatures = validate.items("temperatures", temperatures)
    if not 1 <= len(temperatures) <= 6:
        raise StudioError("out_of_range", name="temperatures", low=1, high=6, value=len(temperatures))
    notices: list[str] = []
    fixed = validate.seed(seed, lang, notices)
    results = []
    for temperature in temperatures:
        *_, last = stream_text(prompt, model, temperature, top_k, top_p, max_new_tokens, seed=fixed, stop=stop,
                               lang=lang, streaming=False)  # generate_text, stoppable
        if stop is not None and stop.is_set():
            raise StudioError("stopped")
        results.append(last)
    results[0].notices[:0] = notices
    return results


def export_text_code(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                     top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                     repetition_penalty: float | None = None, seed: int = -1, *, lang: str | None = None) -> str:
    """查看代码: a transformers script that prints the same text as generate_text with these values (pass the
    seed the page showed back)."""
    r = _request(model, temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed, lang)
    prompt = _text_prompt(prompt)
    spec = task_spec(model, "text")
    chat, new = spec.card is not None and not spec.card.builtin, r.max_new_tokens  # not on disk: Qwen instruct
    if spec.path is not None and (spec.path / "config.json").is_file():
        tokenizer, window = _tokenizer_and_window(str(spec.path))
        chat = bool(getattr(tokenizer, "chat_template", None))
        new = window // 2 if new >= window else new  # as _prompt_ids clamps it
    return textcode.text_script(spec, prompt, r.job(new), chat, settings().hub)
