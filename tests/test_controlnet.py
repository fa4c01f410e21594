"""ControlNet in 文生图 (issue 43), through studio.api with tiny random-weight ControlNets of the real class
(tests/tiny_models.py) loaded the way a downloaded snapshot is: a drawing steers the picture, the same seed and
drawing give the same pixels, the settings and the net's hash are in the infotext as A1111's extension writes
them, merged rows keep their own control images, and bad inputs get a message before anything runs."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from tests import tiny_models


SETTINGS = dict(model="tiny-sd15", sampler="Euler a", steps=4, cfg_scale=7.0, width=32, height=32)
TINY = dict(SETTINGS, save=False)


@pytest.fixture
def nets(studio_env, models_dir):
    """The model folder: tiny-sd15 and tiny-sdxl with their ControlNets (tiny-controlnet-sd15 / -sdxl)."""
    return models_dir


def drawing(box=(6, 6, 26, 26), size=(32, 32)) -> Image.Image:
    """What a learner draws on the page's white canvas: a black outline."""
    canvas = Image.new("RGB", size, "white")
    ImageDraw.Draw(canvas).rectangle(box, outline="black", width=2)
    return canvas


def scribble(box=(6, 6, 26, 26), **unit) -> dict:
    return {"kind": "scribble", "image": drawing(box), "model": "tiny-controlnet-sd15", **unit}


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].convert("RGB"), dtype=int)


def test_a_drawing_steers_the_picture_and_the_same_seed_repeats_it(nets):
    plain = api.generate_image("a cat", seed=3, **TINY)
    steered = api.generate_image("a cat", seed=3, controls=[scribble()], **TINY)
    again = api.generate_image("a cat", seed=3, controls=[scribble()], **TINY)
    elsewhere = api.generate_image("a cat", seed=3, controls=[scribble((2, 2, 12, 30))], **TINY)
    assert np.array_equal(pixels(steered), pixels(again))
    assert np.abs(pixels(steered) - pixels(plain)).max() > 10
    assert np.abs(pixels(steered) - pixels(elsewhere)).max() > 10  # where the line is drawn matters
    # weight 0: the net adds nothing, the picture is the one without control
    off = api.generate_image("a cat", seed=3, controls=[scribble(weight=0)], **TINY)
    assert np.array_equal(pixels(off), pixels(plain))


def test_the_control_picture_is_encoded_once_a_call_and_paints_what_encoding_it_each_step_paints(nets):
    """controlnets.keep_conditioning: the net's conditioning encoder runs once per call instead of once per step,
    with the same pixels; a second drawing in the next call is encoded anew (not the kept one reused)."""
    with manager().lease("tiny-controlnet-sd15") as net:
        embedding = net.controlnet_cond_embedding
        runs = []
        hook = embedding.conv_in.register_forward_hook(lambda *_: runs.append(1))
    try:
        kept = api.generate_image("a cat", seed=3, controls=[scribble()], **TINY)  # 4 steps
        assert len(runs) == 1
        other = api.generate_image("a cat", seed=3, controls=[scribble((2, 2, 12, 30))], **TINY)
        assert len(runs) == 2 and not np.array_equal(pixels(other), pixels(kept))
        kept_forward = embedding.__dict__.pop("forward")  # diffusers' own: the encoder at every step
        try:
            each_step = api.generate_image("a cat", seed=3, controls=[scribble()], **TINY)
        finally:
            embedding.forward = kept_forward
        assert len(runs) == 2 + 4 and np.array_equal(pixels(each_step), pixels(kept))
    finally:
        hook.remove()


def test_the_infotext_names_each_unit_as_a1111s_extension_does(nets):
    result = api.generate_image("a cat", seed=3, controls=[scribble(weight=0.8, start=0.1, end=0.9),
                                                          {"kind": "canny", "image": drawing(),
                                                           "model": "tiny-controlnet-sd15", "low": 50, "high": 150}],
                                **TINY)
    fields = api.read_infotext(result.images[0])
    text = result.infotexts[0]
    assert 'ControlNet 0: "Module: invert (from white bg & black line), Model: tiny-controlnet-sd15 [' in text
    assert "Weight: 0.8, Resize Mode: Just Resize, Processor Res: 32, Threshold A: -1.0, Threshold B: -1.0, " \
           "Guidance Start: 0.1, Guidance End: 0.9, Pixel Perfect: True, Control Mode: Balanced" in text
    assert 'ControlNet 1: "Module: canny, Model: tiny-controlnet-sd15 [' in text
    assert "Threshold A: 50.0, Threshold B: 150.0" in text
    assert fields["ControlNet 1"].startswith("Module: canny, ")  # read back whole, quotes removed


def test_several_units_img2img_inpainting_and_hires(nets):
    source = api.generate_image("a cat", seed=1, **TINY).images[0]
    mask = Image.new("L", (32, 32))
    mask.paste(255, (0, 0, 16, 32))
    two = [scribble(), {"kind": "canny", "image": source, "model": "tiny-controlnet-sd15"}]
    for extra in (dict(controls=two), dict(controls=two, init_image=source, denoising_strength=0.6),
                  dict(controls=[scribble()], init_image=source, mask=mask, denoising_strength=0.8),
                  dict(controls=[scribble()], hires_scale=2, hires_steps=2)):
        result = api.generate_image("a cat", seed=2, **{**TINY, **extra})
        assert result.images[0].size == ((64, 64) if "hires_scale" in extra else (32, 32))


def test_sdxl_takes_its_own_nets(nets):
    sdxl = dict(TINY, model="tiny-sdxl")
    result = api.generate_image("a cat", seed=2, controls=[scribble(model="tiny-controlnet-sdxl")], **sdxl)
    assert result.images[0].size == (32, 32)


def test_merged_rows_keep_their_own_control_images(nets, studio_env):
    from tests.test_merged_batches import merged_run, same_picture
    jobs = {"ann": dict(SETTINGS, prompt="a cat", seed=5, controls=[scribble()]),
            "bob": dict(SETTINGS, prompt="a dog", seed=6, controls=[scribble((2, 2, 12, 30))])}
    results, merges = merged_run(jobs)
    assert merges == ["bob"]  # same settings: one call, each row its own drawing
    for owner, kw in jobs.items():
        same_picture(results[owner].images[0], api.generate_image(**kw, save=False).images[0])
    studio_env()  # a fresh line, with a fresh record of merges
    other = {"ann": jobs["ann"], "cat": dict(jobs["bob"], controls=[scribble((2, 2, 12, 30), weight=0.5)])}
    assert merged_run(other)[1] == []  # another weight: another call


def test_a_control_image_of_another_size_is_resized_with_a_notice(nets):
    big = {"kind": "scribble", "image": drawing((12, 12, 52, 52), size=(64, 64)), "model": "tiny-controlnet-sd15"}
    result = api.generate_image("a cat", seed=3, controls=[big], lang="zh", **TINY)
    assert any("64x64" in n and "32x32" in n for n in result.notices)


@pytest.mark.parametrize("unit, key", [
    ({"kind": "scribble", "model": "tiny-controlnet-sd15"}, "control_needs_image"),
    ({"kind": "scribble", "image": Image.new("RGB", (32, 32), "white"), "model": "tiny-controlnet-sd15"},
     "control_blank"),
    ({"kind": "pose", "image": None}, "bad_choice"),
    ({"kind": "scribble", "image": None, "colour": 1}, "bad_choice"),
    ({"kind": "scribble", "image": "IMAGE", "start": 0.8, "end": 0.2, "model": "tiny-controlnet-sd15"},
     "control_start_end"),
    ({"kind": "scribble", "image": "IMAGE", "weight": 3, "model": "tiny-controlnet-sd15"}, "out_of_range"),
    ({"kind": "scribble", "image": "IMAGE", "model": "tiny-controlnet-sdxl"}, "controlnet_wrong_base"),
    ({"kind": "scribble", "image": "IMAGE", "model": "tiny-sd15"}, "wrong_task"),
])
def test_bad_units_get_a_message_in_both_languages_and_nothing_loads(nets, unit, key):
    unit = {k: drawing() if v == "IMAGE" else v for k, v in unit.items()}
    with pytest.raises(StudioError) as caught:
        api.generate_image("a cat", seed=3, controls=[unit], **TINY)
    assert caught.value.key == key
    assert chinese(caught.value.message("zh")) and not chinese(caught.value.message("en"))
    assert manager().status()["loaded"] == []  # refused before any model was loaded


def test_a_huge_upload_and_a_pickle_net_are_refused_before_anything_runs(nets, models_dir, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 10_000)).save(huge)  # a small file whose pixels would fill 300 MB as RGB
    with pytest.raises(StudioError) as caught:
        api.generate_image("a cat", controls=[{"kind": "canny", "image": str(huge), "model": "tiny-controlnet-sd15"}],
                           **TINY)
    assert caught.value.key == "upload_bomb"  # refused from the file's header, before its pixels are read
    tiny_models.build_controlnet_sd15(models_dir / "pickled-net", safe=False)
    with pytest.raises(StudioError) as caught:
        api.generate_image("a cat", controls=[scribble(model="pickled-net")], **TINY)
    assert caught.value.key == "unsafe_weights"
    assert manager().status()["loaded"] == []


def test_too_many_units_and_a_wrong_type_are_named(nets):
    for controls, key in (([scribble()] * 4, "too_many_controls"), ("scribble", "bad_controls")):
        with pytest.raises(StudioError) as caught:
            api.generate_image("a cat", controls=controls, **TINY)
        assert caught.value.key == key


def test_a_control_unit_dataclass_is_taken_as_a_dict_is(nets):
    as_dict = api.generate_image("a cat", seed=4, controls=[scribble()], **TINY)
    as_unit = api.generate_image("a cat", seed=4, controls=[api.ControlUnit(**scribble())], **TINY)
    assert np.array_equal(pixels(as_dict), pixels(as_unit))


def test_the_page_endpoint_takes_the_units_as_its_last_inputs(nets, client, tmp_path):
    """gradio_client: the old positional call still works; the units' values, named, give the API's picture."""
    from gradio_client import handle_file
    drawn = tmp_path / "drawing.png"
    drawing().save(drawn)
    values = ("a cat", "", "tiny-sd15", "Euler a", 4, 7.0, 3, 32, 32, 1, 1)
    plain, *_ = client.predict(*values, api_name="/generate_image")
    gallery, _seeds, infotext, _notices = client.predict(
        *values, control_1_on=True, control_1_kind="scribble", control_1_model="tiny-controlnet-sd15",
        control_1_image={"background": handle_file(str(drawn)), "layers": [], "composite": None},
        api_name="/generate_image")
    assert 'ControlNet 0: "Module: invert' in infotext
    made = np.asarray(Image.open(gallery[0]["image"]).convert("RGB"), dtype=int)
    assert np.array_equal(made, pixels(api.generate_image("a cat", seed=3, controls=[scribble()], **TINY)))
    assert not np.array_equal(made, np.asarray(Image.open(plain[0]["image"]).convert("RGB"), dtype=int))
    code = client.predict("a cat", "", "tiny-sd15", "Euler a", 4, 7.0, 3, "", 32, 32, 1, control_1_on=True,
                          control_1_model="tiny-controlnet-sd15",
                          control_1_image={"background": handle_file(str(drawn)), "layers": [], "composite": None},
                          api_name="/export_code")
    assert "ControlNetModel.from_pretrained(controlnet_path_0" in code and "control-0.png" in code


def test_a_depth_unit_runs_its_estimator_in_the_job_and_the_preview_shows_the_map(nets):
    near = Image.new("RGB", (32, 32), (40, 40, 40))
    near.paste((230, 230, 230), (8, 8, 24, 24))
    unit = {"kind": "depth", "image": near, "preprocessor": "tiny-depth", "model": "tiny-controlnet-sd15"}
    shown = api.preview_control(unit, "tiny-sd15", 32, 32)
    assert shown.size == (32, 32) and shown.mode == "RGB"
    grey = np.asarray(shown, dtype=int)
    assert (grey[..., 0] == grey[..., 1]).all() and grey.max() - grey.min() > 100  # a grey map spread over 0-255
    result = api.generate_image("a cat", seed=3, controls=[unit], **TINY)
    assert 'ControlNet 0: "Module: tiny-depth, ' in result.infotexts[0]
    assert {row["title"] for row in manager().status()["loaded"]} >= {"tiny-depth", "tiny-controlnet-sd15"}
    with pytest.raises(StudioError) as caught:  # a preprocessor that is no depth model
        api.generate_image("a cat", controls=[dict(unit, preprocessor="tiny-sd15")], **TINY)
    assert caught.value.key == "wrong_task"


def test_png_info_sends_each_units_settings_back_to_the_page(nets):
    """发送到文生图: a PNG's ControlNet units switch the page's units on with their settings (its control image is not
    in the PNG: the canvas is left alone); the note no longer lists them as unapplied."""
    from studio.api.web import control_fields, unapplied_fields
    from tabs import image_control
    result = api.generate_image("a cat", seed=3, guess_mode=True, **TINY, controls=[
        scribble(weight=0.7, start=0.1, end=0.8), {"kind": "canny", "image": drawing(), "model": "tiny-controlnet-sd15",
                                                   "low": 60, "high": 180, "preprocessor": "none"}])
    fields = api.read_infotext(result.images[0])
    first, second = control_fields(fields)
    assert first == {"kind": "scribble", "preprocessor": None, "model": "tiny-controlnet-sd15", "guess_mode": True,
                     "weight": 0.7, "start": 0.1, "end": 0.8}
    assert second["kind"] is None and second["preprocessor"] == "none"  # module none: the kind is not recorded
    assert not [f for f in unapplied_fields(fields, control_units=2) if f.startswith("ControlNet")]
    assert [f for f in unapplied_fields(fields, control_units=1) if f.startswith("ControlNet")] == [
        f'ControlNet 1: "{fields["ControlNet 1"]}"']
    sent = image_control.send(fields)
    unit_1 = dict(zip(image_control.UNIT_FIELDS, sent[:10]))
    assert unit_1["on"] is True and unit_1["kind"] == "scribble" and unit_1["weight"] == 0.7
    assert unit_1["model"] == "tiny-controlnet-sd15" and unit_1["preprocess"] is True and sent[-1] is True
    assert sent[10] is True and sent[13] is False  # the second unit: on, its preprocessor off


def test_a_drawing_on_the_empty_canvas_is_black_lines_on_white_paper():
    """The editor starts with no background (an untouched one is uploaded again at every read of the page's state):
    what a learner draws arrives as black strokes on transparency, and the unit's image is them on white paper."""
    from tabs import image_control
    strokes = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    strokes.paste((0, 0, 0, 255), (10, 10, 30, 14))
    made = image_control.editor_image({"background": None, "layers": [strokes], "composite": strokes})
    assert made.mode == "RGB" and made.getpixel((40, 40)) == (255, 255, 255) and made.getpixel((20, 12)) == (0, 0, 0)
    assert image_control.editor_image({"background": None, "layers": [], "composite": None}) is None  # 'no image'
    photo = Image.new("RGB", (8, 8), "green")
    assert image_control.editor_image({"background": photo, "layers": [], "composite": photo}) is photo


def test_live_says_to_press_generate_while_a_unit_is_on_instead_of_dropping_it(nets):
    """实时 carries no picture (the editors' images would upload at every knob release), so with a unit switched on
    it redraws nothing and says why, in the page's language; with the units off it redraws."""
    import gradio as gr

    from tabs import image as image_tab
    page = ["a cat", "", "tiny-sd15", "Euler a", 4, 7, 3, "", 32, 32, "txt2img", 1, "Latent", 0, 0.5, [], 0.8]
    for lang, words in (("zh", "请按「生成」"), ("en", "press Generate")):
        gallery, seeds, infotext, notes = asyncio.run(image_tab.live_generate(True, *page, lang, "Automatic", False,
                                                                             True, False))
        assert gallery == seeds == infotext == gr.skip() and words in notes
    gallery, seeds, infotext, _notes = asyncio.run(image_tab.live_generate(True, *page, "en", "Automatic", False,
                                                                          False, False))
    assert seeds == "3" and "ControlNet" not in infotext and len(gallery) == 1


def test_messages_name_the_control_type_in_the_pages_words(nets):
    """A zh page says 线稿 / 边缘 / 深度 as its control-type radio does, not the API's kind names."""
    with pytest.raises(StudioError) as caught:
        api.generate_image("a cat", controls=[{"kind": "scribble", "model": "tiny-controlnet-sd15"}], **TINY)
    assert caught.value.message("zh").startswith("控制单元 1（线稿）还没有图片")
    assert caught.value.message("en").startswith("Control unit 1 (scribble) has no image")
    with pytest.raises(StudioError) as caught:
        api.generate_image("a cat", controls=[{"kind": "depth", "image": drawing()}], **TINY)
    assert caught.value.key == "no_controlnet" and "“深度”类型" in caught.value.message("zh")
    assert "for 'depth'" in caught.value.message("en")
