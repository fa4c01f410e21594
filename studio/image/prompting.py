"""Prompt helpers of the text-to-image tab: the structured prompt builder and the Chinese -> English helper."""
from __future__ import annotations

from studio.core import hub, validate
from studio.core.calls import PROMPT_CAP, caller_lang
from studio.core.errors import StudioError
from studio.core.i18n import t
from studio.core.registry import CARDS
from studio.image import prompts
from studio.text.api import generate_text


# Instruct models the helper may use, smallest first; the first on disk (or loaded) is used.
HELPER_MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b")
INSTRUCTIONS = {
    "translate": "Translate this text-to-image prompt into English for Stable Diffusion. Keep the meaning, write "
                 "comma-separated keywords, keep weighting brackets such as (word:1.3). Output only the prompt.\n\n",
    "expand": "Expand this idea into a detailed English prompt for Stable Diffusion: subject, details, scene, "
              "lighting, art style, technical terms, as comma-separated keywords. Output only the prompt.\n\n",
}


def build_prompt(chosen: dict[str, list[str]], extra: dict[str, str] | None = None, lang: str = "en") -> str:
    """提示词构建器: 主体 + 细节 + 场景 + 光照 + 风格 + 技术参数 from the course's keyword library."""
    chosen = {str(k): [validate.text("term", t, 200) for t in validate.items(str(k), v or [], 200)]
              for k, v in validate.mapping("chosen", chosen).items()}
    extra = {str(k): validate.text(str(k), v, PROMPT_CAP) for k, v in validate.mapping("extra", extra).items()}
    return prompts.build_prompt(chosen, extra, validate.option("lang", lang, ("zh", "en")))


def translate_prompt(text: str, task: str = "translate", model: str | None = None, *,
                     lang: str | None = None) -> dict:
    """翻译 / 扩写: an English SD prompt from Chinese (or an idea) with a real instruct model when one is on disk
    (`model`, else the first of HELPER_MODELS); without one, the keyword library's dictionary (translate only).
    Returns {"prompt", "method": model key or "dictionary", "notices"}."""
    lang = caller_lang(lang)
    text = validate.text("prompt", text, PROMPT_CAP)
    if not text.strip():
        raise StudioError("empty_prompt")
    validate.option("task", task, tuple(INSTRUCTIONS))
    helper = model or _helper_on_disk()
    if helper is None:
        if task == "expand":
            raise StudioError("no_helper_model", models=", ".join(HELPER_MODELS))
        english, replaced = prompts.dictionary_translate(text)
        return {"prompt": english, "method": "dictionary",
                "notices": [t("notice_dictionary_translation", lang, count=replaced, models=", ".join(HELPER_MODELS))]}
    result = generate_text(INSTRUCTIONS[task] + text, helper, temperature=0, max_new_tokens=160, seed=0, lang=lang)
    return {"prompt": result.text.strip().strip('"'), "method": helper, "notices": result.notices}


def _helper_on_disk() -> str | None:
    for key in HELPER_MODELS:
        if hub.find_local(CARDS[key]) is not None:
            return key
    return None


