"""文本生成 beyond one-shot: streaming and stop, multi-turn chat, stepping token by token, templates, 查看代码."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.text import engine
from studio.text.sampling import Sampling
from tests.conftest import ROOT, beside


QWEN = "tiny-qwen2"
KW = dict(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=24, repetition_penalty=1.0)


@pytest.mark.parametrize("model", ["mini-poem", QWEN])
def test_streaming_grows_to_the_one_shot_text(studio_env, model):
    parts = [r.text for r in api.stream_text("床前明月光" if model == "mini-poem" else "hello", model, seed=11, **KW)]
    whole = api.generate_text("床前明月光" if model == "mini-poem" else "hello", model, seed=11, **KW).text
    assert len(parts) > 1 and parts[-1] == whole
    assert all(b.startswith(a) for a, b in zip(parts, parts[1:]))  # each update extends the last


def test_stop_ends_the_stream_early_and_keeps_what_was_made(studio_env):
    full = api.generate_text("春", "mini-poem", seed=3, **{**KW, "max_new_tokens": 60}).text
    stop = threading.Event()
    seen = []
    for r in api.stream_text("春", "mini-poem", seed=3, stop=stop, **{**KW, "max_new_tokens": 60}):
        seen.append(r.text)
        stop.set()
    assert seen and len(seen[-1]) < len(full) and full.startswith(seen[-1])
    assert api.generate_text("春", "mini-poem", seed=3, **{**KW, "max_new_tokens": 60}).text == full  # model fine


def test_chat_sends_every_turn_through_the_template(studio_env):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}]
    answer = api.chat(messages, QWEN, seed=4, **KW)
    tm = manager().get(QWEN)
    ids = engine.encode_messages(tm, messages)
    text = tm.tokenizer.decode(ids[0])
    assert text.count("<|im_start|>") == 5 and text.endswith("<|im_start|>assistant\n")
    torch.manual_seed(4)
    expected = tm.tokenizer.decode(engine.generate_ids(tm, ids, engine.TextJob(Sampling(1.0, 0, 1.0, 1.0), 24, 4)),
                                   skip_special_tokens=True)
    assert answer.chat and answer.text == expected
    assert [r.text for r in api.stream_chat(messages, QWEN, seed=4, **KW)][-1] == answer.text


def test_a_long_conversation_drops_its_oldest_turns_with_a_notice(studio_env):
    turns = []
    for i in range(40):
        turns += [{"role": "user", "content": f"question {i} " * 3},
                  {"role": "assistant", "content": f"answer {i} " * 3}]
    turns.append({"role": "user", "content": "last question"})
    result = api.chat([{"role": "system", "content": "sys"}, *turns], QWEN, seed=1, lang="en", **KW)
    assert any("earliest turns" in n for n in result.notices)


@pytest.mark.parametrize("messages, key", [
    ([], "bad_messages"), ([{"role": "wizard", "content": "x"}], "bad_messages"), ("hi", "bad_messages"),
    ([{"role": "user", "content": "   "}], "empty_prompt"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "empty_prompt")])
def test_malformed_conversations_get_messages(studio_env, messages, key):
    with pytest.raises(StudioError) as err:
        api.chat(messages, QWEN)
    assert err.value.key == key and err.value.message("zh")


def test_a_base_model_cannot_chat_and_says_so(studio_env):
    with pytest.raises(StudioError) as err:
        api.chat([{"role": "user", "content": "你好"}], "mini-poem")
    assert err.value.key == "chat_needs_instruct"
    assert api.generate_text("你好", "mini-poem", seed=1, max_new_tokens=4).text  # still serving


def test_stepping_at_temperature_zero_walks_the_greedy_sentence(studio_env):
    greedy_ids = engine.generate_ids(manager().get("mini-poem"), engine.encode(manager().get("mini-poem"), "明月"),
                                     engine.TextJob(Sampling(0, 0, 1.0, 1.0), 6, 0))
    walked: list[int] = []
    for _ in range(6):
        step = api.next_token("明月", "mini-poem", walked, temperature=0)
        walked = step["ids"]
    assert walked == greedy_ids
    assert step["text"] == manager().get("mini-poem").tokenizer.decode(walked, skip_special_tokens=True)


def test_a_seeded_walk_repeats_and_each_draw_is_a_kept_token(studio_env):
    def walk(seed):
        ids: list[int] = []
        for _ in range(5):
            rows = api.token_distribution("春风", "mini-poem", 1.2, 5, 1.0, n=50, continuation=ids)
            step = api.next_token("春风", "mini-poem", ids, temperature=1.2, top_k=5, top_p=1.0, seed=seed)
            assert step["token_id"] in {r["token_id"] for r in rows if r["kept"]}
            ids = step["ids"]
        return ids
    assert walk(7) == walk(7)
    assert len({tuple(walk(s)) for s in (1, 2, 3, 4)}) > 1


def test_the_distribution_after_chosen_tokens_uses_their_ids_not_retokenised_text(studio_env):
    tm = manager().get(QWEN)
    chosen = [5, 17, 42]
    rows = api.token_distribution("hi", QWEN, 1.0, 0, 1.0, n=3, continuation=chosen)
    ids = torch.cat([engine.encode(tm, "hi"), torch.tensor([chosen])], 1)
    with torch.no_grad():
        probs = torch.softmax(tm.model(input_ids=ids).logits[0, -1].float(), -1)
    assert [r["token_id"] for r in rows] == torch.argsort(probs, descending=True)[:3].tolist()
    assert rows[0]["p_raw"] == pytest.approx(float(probs.max()), rel=1e-5)


@pytest.mark.parametrize("continuation", [[-1], [10**9], ["a"], [1.5]])
def test_bad_token_ids_get_a_message(studio_env, continuation):
    with pytest.raises(StudioError) as err:
        api.next_token("hi", QWEN, continuation)
    assert err.value.key == "bad_token_ids"


def test_templates_fill_their_fields_and_name_a_missing_one(studio_env):
    ids = [t["id"] for t in api.text_templates()]
    assert {"cot_zero", "cot_few", "feynman", "style", "story", "roles", "sentiment", "storyboard"} <= set(ids)
    lu_xun = api.text_template("style", "zh")
    values = {f["name"]: f["default"] for f in lu_xun["fields"]}
    prompt = api.fill_template("style", values, "zh")
    assert prompt.startswith("请以鲁迅的风格") and "{" not in prompt
    assert "{x}" in api.fill_template("feynman", {"concept": "{x}", "audience": "孩子"})  # braces typed stay
    with pytest.raises(StudioError) as err:
        api.fill_template("feynman", {"concept": "熵", "audience": " "}, "zh")
    assert err.value.key == "template_field_missing" and "听众" in err.value.message("zh")
    with pytest.raises(StudioError):
        api.text_template("nope")


def test_token_counter_uses_the_models_own_tokenizer(studio_env):
    tm = manager().get(QWEN)
    count = api.count_text_tokens("hello world", QWEN)
    assert count == {"tokens": engine.encode(tm, "hello world").shape[1], "window": 256}
    assert api.count_text_tokens("hi", "qwen2.5-0.5b") is None  # not downloaded: nothing is fetched to count


@pytest.mark.parametrize("model, prompt", [("mini-poem", "山"), (QWEN, "hello")])
def test_exported_code_prints_the_pages_text(studio_env, models_dir, tmp_path, model, prompt):
    page = api.generate_text(prompt, model, 0.9, 10, 0.95, 16, 1.1, 21).text
    script = tmp_path / "run.py"
    script.write_text(api.export_text_code(prompt, model, 0.9, 10, 0.95, 16, 1.1, 21), encoding="utf-8")
    beside(tmp_path, ROOT / "assets" if model == "mini-poem" else models_dir / model)  # as the script's comment says
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip("\n") == page
