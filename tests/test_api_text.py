"""studio.api.generate_text / token_distribution on a tiny Qwen2 (chat template) built from config."""
from __future__ import annotations

import math

import pytest
import torch

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.text import engine


MODEL = "tiny-qwen2"


def _resident():
    return manager().get(MODEL)


def test_temperature_zero_is_greedy_and_deterministic(studio_env):
    first = api.generate_text("hello world", MODEL, temperature=0, max_new_tokens=12, seed=1)
    again = api.generate_text("hello world", MODEL, temperature=0, max_new_tokens=12, seed=99)
    tm = _resident()
    ids = engine.encode(tm, "hello world")
    with torch.no_grad():
        out = tm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                max_new_tokens=12, pad_token_id=tm.tokenizer.pad_token_id)
    greedy = tm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert first.text == again.text == greedy


def test_top_k_one_equals_greedy(studio_env):
    greedy = api.generate_text("the quick brown", MODEL, temperature=0, max_new_tokens=10, seed=3).text
    for seed in (1, 2, 3):
        assert api.generate_text("the quick brown", MODEL, temperature=1.5, top_k=1, max_new_tokens=10,
                                 seed=seed).text == greedy


def test_a_seed_reproduces_sampled_text_and_minus_one_is_shown_back(studio_env):
    kw = dict(temperature=1.2, top_k=0, top_p=1.0, max_new_tokens=16)
    a = api.generate_text("hello", MODEL, seed=7, **kw)
    b = api.generate_text("hello", MODEL, seed=7, **kw)
    others = {api.generate_text("hello", MODEL, seed=s, **kw).text for s in (8, 9, 10)}
    assert a.text == b.text and others - {a.text}
    random = api.generate_text("hello", MODEL, seed=-1, **kw)
    assert 0 <= random.seed < 2**32 and str(random.seed) in random.notices[0]
    assert api.generate_text("hello", MODEL, seed=random.seed, **kw).text == random.text


def test_the_chat_template_wraps_prompts_for_instruct_models(studio_env):
    tm = _resident()
    text = tm.tokenizer.decode(engine.encode(tm, "你好")[0])
    assert text.startswith("<|im_start|>user\n你好<|im_end|>") and text.endswith("<|im_start|>assistant\n")
    assert api.generate_text("你好", MODEL, max_new_tokens=2, seed=1).chat


def _manual_keep(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> set[int]:
    """Which tokens sampling may draw, computed by hand from the raw logits: temperature, then the top-k
    tokens, then the smallest set of those whose renormalised probability reaches top_p."""
    probs = torch.softmax(logits / temperature, dim=-1)
    order = torch.argsort(probs, descending=True).tolist()
    order = order[:top_k] if top_k else order
    total = float(probs[order].sum())
    mass, nucleus = 0.0, set()
    for i in order:
        if mass >= top_p:
            break
        nucleus.add(i)
        mass += float(probs[i]) / total
    return nucleus


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 5, 1.0), (0.7, 0, 0.3), (1.3, 8, 0.05)])
def test_distribution_matches_a_computation_from_the_raw_logits(studio_env, temperature, top_k, top_p):
    rows = api.token_distribution("hello world", MODEL, temperature=temperature, top_k=top_k, top_p=top_p, n=50)
    tm = _resident()
    with torch.no_grad():
        logits = tm.model(input_ids=engine.encode(tm, "hello world")).logits[0, -1].float()
    raw = torch.softmax(logits, dim=-1)
    assert [r["token_id"] for r in rows] == torch.argsort(raw, descending=True)[:50].tolist()
    for r in rows:
        assert math.isclose(r["p_raw"], float(raw[r["token_id"]]), rel_tol=1e-4)
    kept, manual = {r["token_id"] for r in rows if r["kept"]}, _manual_keep(logits, temperature, top_k, top_p)
    assert kept == manual & {r["token_id"] for r in rows}
    if len(manual) <= len(rows):  # every token sampling may draw is listed: their final probabilities sum to 1
        assert math.isclose(sum(r["p_final"] for r in rows if r["kept"]), 1.0, rel_tol=1e-4)
    assert all(r["p_final"] == 0 for r in rows if not r["kept"])
    assert rows[-1]["cumulative"] <= 1.0 + 1e-6 and rows[0]["cumulative"] == pytest.approx(rows[0]["p_temperature"])


def test_temperature_zero_puts_all_mass_on_one_token(studio_env):
    rows = api.token_distribution("hello", MODEL, temperature=0, n=5)
    assert [r["p_final"] for r in rows] == [1.0, 0, 0, 0, 0] and rows[0]["kept"]


def test_a_prompt_longer_than_the_context_is_cut_from_the_left_with_a_notice(studio_env):
    result = api.generate_text("the quick brown fox " * 200, MODEL, temperature=0, max_new_tokens=8, seed=1, lang="en")
    assert any("cut from its start" in n for n in result.notices)
    big = api.generate_text("hello", MODEL, temperature=0, max_new_tokens=1000, seed=1, lang="en")
    assert any("exceeds the context window" in n for n in big.notices)


@pytest.mark.parametrize("kwargs,key", [
    (dict(prompt="   "), "empty_prompt"),
    (dict(prompt=""), "empty_prompt"),
    (dict(top_p=0), "out_of_range"),
    (dict(temperature=-0.5), "out_of_range"),
    (dict(temperature=float("nan")), "bad_number"),
    (dict(max_new_tokens=10**6), "out_of_range"),
    (dict(top_k="many"), "bad_number"),
    (dict(model="tiny-sd15"), "wrong_task"),
])
def test_bad_input_gets_a_message_and_the_model_keeps_working(studio_env, kwargs, key):
    call = dict(prompt="hello", model=MODEL, max_new_tokens=4, seed=1) | kwargs
    with pytest.raises(StudioError) as err:
        api.generate_text(**call)
    assert err.value.key == key and err.value.message("zh") and err.value.message("en")
    assert api.generate_text("hello", MODEL, max_new_tokens=4, seed=1).text is not None


def test_temperature_experiment_differs_only_by_temperature(studio_env):
    from studio import api as studio_api
    results = studio_api.compare_temperatures("床前明月光", "mini-poem", max_new_tokens=24, seed=-1, lang="en")
    assert len(results) == 3 and len({r.seed for r in results}) == 1  # one seed for every column
    assert any("seed" in n.lower() for n in results[0].notices)
    for t, r in zip(studio_api.COURSE_TEMPERATURES, results):
        alone = studio_api.generate_text("床前明月光", "mini-poem", temperature=t, max_new_tokens=24, seed=r.seed)
        assert alone.text == r.text
