"""Text generation and the next-token distribution behind it."""
from __future__ import annotations

from .. import validate
from ..engines import text as _text
from ..errors import StudioError
from ..i18n import t
from ..manager import manager
from ..results import TextResult
from .common import _lang, _spec, model_defaults


# -- text ---------------------------------------------------------------------------------------
MAX_NEW_TOKENS = 2048
TEXT_PROMPT_CAP = 200_000  # characters; longer input than the context window is cut from the left, with a notice
MAX_TOP_TOKENS = 50


def _sampling(temperature, top_k, top_p, repetition_penalty, d: dict) -> tuple[float, int, float, float]:
    """Checked sampling knobs; None takes the model's default."""
    pick = lambda value, key: d[key] if value is None else value  # noqa: E731
    return (validate.number("temperature", pick(temperature, "temperature"), 0, 2),
            validate.number("top_k", pick(top_k, "top_k"), 0, 1000, int),
            validate.number("top_p", pick(top_p, "top_p"), 0.01, 1),
            validate.number("repetition_penalty", pick(repetition_penalty, "repetition_penalty"), 1, 2))


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


def generate_text(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                  top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                  repetition_penalty: float | None = None, seed: int = -1, *, lang: str | None = None) -> TextResult:
    """Continue `prompt` (base models) or answer it (instruct models, through their chat template).

    temperature 0 is greedy decoding; top_k 0 and top_p 1 switch those filters off. Unset knobs take the
    model's defaults. The same seed with the same knobs gives the same text.
    """
    lang = _lang(lang)
    _spec(model, "text")
    d = model_defaults(model)
    notices: list[str] = []
    prompt = _text_prompt(prompt)
    temperature, top_k, top_p, repetition_penalty = _sampling(temperature, top_k, top_p, repetition_penalty, d)
    max_new_tokens = validate.number("max_new_tokens", d["max_new_tokens"] if max_new_tokens is None else max_new_tokens,
                                     1, MAX_NEW_TOKENS, int)
    chosen_seed = validate.seed(seed, lang, notices)

    def run(tm):
        ids, new = _prompt_ids(tm, prompt, max_new_tokens, lang, notices)
        job = _text.TextJob(temperature, top_k, top_p, new, repetition_penalty, chosen_seed)
        return _text.generate(tm, ids, job), _text.uses_chat(tm.tokenizer)

    text, chat = manager().run(model, run)
    return TextResult(text, chosen_seed, notices, chat)


def token_distribution(prompt: str, model: str = "mini-poem", temperature: float | None = None,
                       top_k: int | None = None, top_p: float | None = None, n: int = 20, *,
                       repetition_penalty: float | None = None, lang: str | None = None) -> list[dict]:
    """The n most likely next tokens after `prompt`, from the model's real logits: probability before and after
    temperature, the cumulative sum, whether top-k / top-p keep each token, and the final probability."""
    lang = _lang(lang)
    _spec(model, "text")
    d = model_defaults(model)
    prompt = _text_prompt(prompt)
    temperature, top_k, top_p, repetition_penalty = _sampling(temperature, top_k, top_p, repetition_penalty, d)
    n = validate.number("n", n, 1, MAX_TOP_TOKENS, int)

    def run(tm):
        ids, _new = _prompt_ids(tm, prompt, 1, lang, [])
        return _text.distribution(tm, ids, temperature, top_k, top_p, repetition_penalty, n)

    return manager().run(model, run)



COURSE_TEMPERATURES = (0.2, 0.7, 1.2)  # module 5's temperature experiment


def compare_temperatures(prompt: str, model: str = "mini-poem", temperatures=COURSE_TEMPERATURES,
                         top_k: int | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
                         seed: int = -1, *, lang: str | None = None) -> list[TextResult]:
    """The course's experiment: the same prompt and the same seed at several temperatures (default 0.2 / 0.7 /
    1.2), so the only difference between the columns is the temperature."""
    lang = _lang(lang)
    if not 1 <= len(temperatures) <= 6:
        raise StudioError("out_of_range", name="temperatures", low=1, high=6, value=len(temperatures))
    notices: list[str] = []
    fixed = validate.seed(seed, lang, notices)
    results = [generate_text(prompt, model, temperature, top_k, top_p, max_new_tokens, seed=fixed, lang=lang)
               for temperature in temperatures]
    results[0].notices[:0] = notices
    return results
