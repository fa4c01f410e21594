"""Property-based fuzzing of every public studio.api function: whatever a caller passes, the call either works or
raises StudioError with a message in both languages; never another exception.

Server limits are set tiny for the run (steps, pixels, frames, tokens), so the inputs that are valid stay cheap.
"""
from __future__ import annotations

import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio import api
from studio.core.errors import StudioError


CALLBACKS = {"progress", "preview", "stop", "on_step"}
MODELS = ["mini-shapes", "mini-poem", "mini-motion", "espeak", "tiny-sd15", "tiny-qwen2", "tiny-wan", "sd15",
          "chattts", "", "/etc", "../..", "no-such-model", "tiny-sd15/../tiny-qwen2"]
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(["", " ", "-1", "1e9", "nan", "床前明月光", "a red circle", "[uv_break]",
                                           "(word:1.5)", "x" * 300, "\x00", "../../etc/passwd"]),
    st.lists(st.one_of(st.integers(-5, 50000), st.text(max_size=8)), max_size=4),
    st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3),
)
# Functions whose arguments are collections of rich objects get shapes that reach past the first type check.
SHAPED = {
    "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "x"]),
                                                "content": st.text(max_size=20)}), max_size=3),
    "shots": st.lists(st.lists(st.one_of(st.integers(0, 9), st.text(max_size=20)), max_size=4), max_size=3),
    "rows": st.lists(st.lists(st.text(max_size=20), min_size=4, max_size=4), max_size=3),
    "values": st.dictionaries(st.sampled_from(["topic", "question", "steps", "length", "x"]), st.text(max_size=30),
                              max_size=3),
    "parts": st.lists(st.fixed_dictionaries({"title": st.text(max_size=10),
                                             "paragraphs": st.lists(st.text(max_size=20), max_size=2)}), max_size=2),
}
SKIP = {"download"}  # would try the network (refused offline, but each try waits for the hub timeout)


def _functions():
    return sorted(n for n in api.__all__ if inspect.isfunction(getattr(api, n)) and n not in SKIP)


def _strategy(name: str):
    if name in SHAPED:
        return st.one_of(SHAPED[name], JUNK)
    if "model" in name:
        return st.one_of(st.sampled_from(MODELS), JUNK)
    return JUNK


def _call(fn, kwargs):
    result = fn(**kwargs)
    if inspect.isgenerator(result):
        for _ in result:
            pass
    return result


@pytest.mark.parametrize("name", _functions())
def test_any_input_works_or_gets_a_message(studio_env, name):
    studio_env(STUDIO_MAX_STEPS=2, STUDIO_MAX_PIXELS=64 * 64, STUDIO_MAX_FRAMES=5, STUDIO_MAX_NEW_TOKENS=4,
               STUDIO_MAX_LORA_STEPS=2, STUDIO_MAX_TEXT=200, STUDIO_MAX_BATCH=2)
    fn = getattr(api, name)
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.name not in CALLBACKS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    required = [p.name for p in params if p.default is p.empty]
    strategy = st.fixed_dictionaries({n: _strategy(n) for n in required},
                                     optional={p.name: _strategy(p.name) for p in params if p.name not in required})

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(kwargs=strategy)
    def check(kwargs):
        try:
            _call(fn, kwargs)
        except StudioError as err:
            assert err.message("zh").strip() and err.message("en").strip()

    check()
