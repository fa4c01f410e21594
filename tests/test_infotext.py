"""The PNG `parameters` text: written as the web UIs write it, read back from theirs and ours."""
from studio.image.infotext import format_infotext, parse_infotext


A1111 = ("masterpiece, a cat\nNegative prompt: lowres, blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, "
         "CFG scale: 7, Seed: 1057871485, Size: 512x768, Model hash: 7460a6fa2b, Model: v1-5-pruned-emaonly, "
         "Lora hashes: \"ink: 0123456789\", Version: v1.10.1")


def test_reads_the_web_ui_format_including_split_schedule():
    p = parse_infotext(A1111)
    assert p["prompt"] == "masterpiece, a cat" and p["negative_prompt"] == "lowres, blurry"
    assert p["sampler"] == "DPM++ 2M Karras" and p["steps"] == 20 and p["cfg_scale"] == 7.0
    assert p["seed"] == 1057871485 and (p["width"], p["height"]) == (512, 768)
    assert p["model_hash"] == "7460a6fa2b" and p["Lora hashes"] == "ink: 0123456789"


def test_round_trip_with_quoting_and_multiline_prompt():
    params = dict(steps=30, sampler="Euler a", cfg_scale=7.5, seed=42, size="64x64", model_hash="abc",
                  model="my, model")
    text = format_infotext("line one\nline two: (x:1.2)", "", params)
    assert "Negative prompt" not in text and 'Model: "my, model"' in text
    p = parse_infotext(text)
    assert p["prompt"] == "line one\nline two: (x:1.2)" and p["negative_prompt"] == ""
    assert p["model"] == "my, model" and p["seed"] == 42 and p["cfg_scale"] == 7.5


def test_text_without_parameters_line_is_only_a_prompt():
    assert parse_infotext("just a prompt") == {"prompt": "just a prompt", "negative_prompt": ""}


def test_numbers_are_read_exactly_and_a_bad_one_stays_text():
    """Issue 41: seeds up to 2^64 (A1111 writes them so) come back exactly, not through a float."""
    p = parse_infotext("a cat\nSteps: 20.0, Sampler: Euler, Seed: 127589946317439009, CFG scale: 7, Clip skip: two")
    assert p["seed"] == 127589946317439009 and p["steps"] == 20 and p["cfg_scale"] == 7.0
    assert parse_infotext("a\nSteps: 20, Sampler: Euler, Seed: 18446744073709551615")["seed"] == 2**64 - 1
    assert p["clip_skip"] == "two"  # not a number: kept as written, never dropped
