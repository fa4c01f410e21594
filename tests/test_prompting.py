"""提示词构建器 and the 翻译 / 扩写 helper."""
from __future__ import annotations

import pytest

from studio import api
from studio.core.errors import StudioError


def test_builder_follows_the_course_formula_in_order():
    chosen = {"style": ["国风水墨画"], "subject": ["一条雄伟的中国龙"], "technical": ["8k", "高细节"],
              "lighting": ["晨雾弥漫"]}
    assert api.build_prompt(chosen, {"scene": "above the clouds"}) == \
        "a majestic Chinese dragon, above the clouds, morning mist, Chinese ink painting, 8k, highly detailed"
    assert api.build_prompt(chosen, lang="zh") == "一条雄伟的中国龙, 晨雾弥漫, 国风水墨画, 8k, 高细节"


def test_without_a_text_model_translation_is_the_labelled_dictionary(studio_env):
    r = api.translate_prompt("一条雄伟的中国龙，国风水墨画，云海", lang="en")
    assert r["method"] == "dictionary"
    assert r["prompt"] == "a majestic Chinese dragon, Chinese ink painting, 云海"  # unknown words stay
    assert "Dictionary translation" in r["notices"][0] and "2" in r["notices"][0]
    with pytest.raises(StudioError) as err:
        api.translate_prompt("一条龙", "expand")
    assert err.value.key == "no_helper_model"
    with pytest.raises(StudioError):
        api.translate_prompt("   ")


def test_with_an_instruct_model_the_model_writes_the_prompt(studio_env):
    r = api.translate_prompt("一条雄伟的中国龙", model="tiny-qwen2")
    assert r["method"] == "tiny-qwen2" and isinstance(r["prompt"], str)
    assert api.translate_prompt("一条雄伟的中国龙", model="tiny-qwen2")["prompt"] == r["prompt"]  # greedy: stable
