"""Prompt weighting and long prompts, image to image, inpainting, hires fix, previews and stop, on tiny SD models."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.image import weighting
from tests.conftest import ROOT, beside


SD = dict(model="tiny-sd15", sampler="Euler a", steps=4, cfg_scale=7, width=64, height=64, save=False)
FILLER = " ".join(["a quiet garden with stone paths"] * 14)  # about 100 CLIP tokens


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def source() -> Image.Image:
    """Left half red, right half blue: easy to tell which pixels an edit touched."""
    a = np.zeros((64, 64, 3), np.uint8)
    a[:, :32] = (220, 30, 30)
    a[:, 32:] = (30, 30, 220)
    return Image.fromarray(a)


# -- weighting ------------------------------------------------------------------------------------
@pytest.mark.parametrize("prompt,spans", [
    ("a (red) cat", [("a ", 1.0), ("red", 1.1), (" cat", 1.0)]),
    ("a ((red)) cat", [("a ", 1.0), ("red", 1.21), (" cat", 1.0)]),
    ("a [red] cat", [("a ", 1.0), ("red", round(1 / 1.1, 6)), (" cat", 1.0)]),
    ("a (red:1.5) cat", [("a ", 1.0), ("red", 1.5), (" cat", 1.0)]),
    ("a ((red:1.5)) cat", [("a ", 1.0), ("red", 1.65), (" cat", 1.0)]),
    (r"a \(red\) cat", [("a (red) cat", 1.0)]),
    ("a red) cat", [("a red) cat", 1.0)]),
    ("ratio 16:9, (big:0.5)", [("ratio 16:9, ", 1.0), ("big", 0.5)]),
    ("a (red cat", [("a ", 1.0), ("red cat", 1.1)]),
])
def test_weighting_syntax_reads_as_the_course_teaches(prompt, spans):
    assert weighting.parse(prompt) == spans


def _embeds(pipe, prompt):
    return weighting.encode(pipe, prompt, "", 1)["prompt_embeds"][0]


def test_weighting_changes_only_the_weighted_tokens_and_more_for_a_larger_weight(studio_env):
    pipe = manager().get("tiny-sd15")
    plain = _embeds(pipe, "a red cat")  # through compel with every weight 1
    up = _embeds(pipe, "a (red:1.5) cat")
    more = _embeds(pipe, "a (red:2) cat")
    red_id = pipe.tokenizer("red", add_special_tokens=False).input_ids[0]
    red = [i for i, tok in enumerate(pipe.tokenizer("a red cat").input_ids) if tok == red_id]
    changed = (up - plain).abs().sum(-1) > 1e-5
    assert changed.nonzero().flatten().tolist() == red
    assert (more - plain).norm() > (up - plain).norm() > 0
    down = _embeds(pipe, "a [red] cat")
    assert (down - plain).norm() > 0 and not torch.allclose(down, up)


def test_long_prompt_is_encoded_in_chunks_not_cut(studio_env):
    counts = api.count_tokens(FILLER + " red", "tiny-sd15")
    assert counts["tokens"] > 75 and counts["chunks"] == 2 and counts["limit"] == 150
    assert api.count_tokens("a (red:1.5) cat", "tiny-sd15")["tokens"] == 3  # the syntax is not counted
    pipe = manager().get("tiny-sd15")
    assert weighting.encode(pipe, FILLER, "", 1)["prompt_embeds"].shape[1] == 154
    red = api.generate_image(FILLER + " red apple", seed=3, **SD).images[0]
    blue = api.generate_image(FILLER + " blue apple", seed=3, **SD).images[0]
    assert not np.array_equal(pixels(red), pixels(blue))  # words after token 75 still count


def test_plain_prompts_go_through_the_pipelines_own_encoder(studio_env):
    pipe = manager().get("tiny-sd15")
    assert not weighting.needs_compel(pipe, "a red cat", "blurry")
    assert weighting.needs_compel(pipe, "a (red) cat", "") and weighting.needs_compel(pipe, "x", FILLER)


def test_weighted_prompt_is_reproducible_and_differs_from_plain(studio_env):
    kw = dict(seed=5, **SD)
    first = api.generate_image("a (red:1.6) cat", "[blurry]", **kw)
    again = api.generate_image("a (red:1.6) cat", "[blurry]", **kw)
    plain = api.generate_image("a red cat", "blurry", **kw)
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    assert not np.array_equal(pixels(first.images[0]), pixels(plain.images[0]))
    assert first.infotexts[0].startswith("a (red:1.6) cat")


# A1111's doctests of parse_prompt_attention (modules/prompt_parser.py, v1.10), case by case (its floats to 6 places).
@pytest.mark.parametrize("prompt,spans", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.573), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55), (", sun, ", 1.1),
      ("sky", 1.4641), (".", 1.1)]),
])
def test_a1111s_parse_prompt_attention_doctests(prompt, spans):
    assert weighting.parse(prompt) == spans


@pytest.mark.parametrize("prompt,parts", [
    ("a red cat BREAK blue sky", [[("a red cat", 1.0)], [("blue sky", 1.0)]]),
    ("BREAK a", [[], [("a", 1.0)]]),  # a chunk of padding first, as A1111 makes it
    ("a BREAK", [[("a", 1.0)]]),  # a BREAK at the end adds nothing
    ("BREAKFAST, break", [[("BREAKFAST, break", 1.0)]]),  # a word of its own, in capitals
    ("(a BREAK b:1.2) c", [[("a", 1.2)], [("b", 1.2), (" c", 1.0)]]),  # inside brackets too
])
def test_break_starts_a_new_chunk(prompt, parts):
    assert weighting.parts(prompt) == parts


def test_break_encodes_each_part_in_chunks_of_its_own(studio_env):
    pipe = manager().get("tiny-sd15")
    assert api.count_tokens("a red cat BREAK blue sky", "tiny-sd15") == {"tokens": 5, "chunks": 2, "limit": 150}
    assert weighting.needs_compel(pipe, "a BREAK b", "") and weighting.needs_compel(pipe, "", "a BREAK b")
    both = _embeds(pipe, "a red cat BREAK blue sky")
    assert both.shape[0] == 154
    assert torch.allclose(both[:77], _embeds(pipe, "a red cat"))
    assert torch.allclose(both[77:], _embeds(pipe, "blue sky"))
    broken = api.generate_image("a red cat BREAK blue sky", seed=3, **SD)
    assert np.array_equal(pixels(broken.images[0]), pixels(api.generate_image("a red cat BREAK blue sky", seed=3,
                                                                               **SD).images[0]))
    assert not np.array_equal(pixels(broken.images[0]), pixels(api.generate_image("a red cat blue sky", seed=3,
                                                                                   **SD).images[0]))
    sdxl = api.generate_image("a cat BREAK (snow:1.2)", "blur BREAK", seed=1, **{**SD, "model": "tiny-sdxl"})
    assert sdxl.images[0].size == (64, 64)


def test_sdxl_weighting_and_long_prompts_run(studio_env):
    kw = {**SD, "model": "tiny-sdxl", "width": 32, "height": 32}
    image = api.generate_image("a (red:1.4) cat, " + FILLER, seed=1, **kw).images[0]
    assert image.size == (32, 32)


# -- image to image and inpainting -----------------------------------------------------------------
def test_img2img_keeps_the_source_size_and_strength_sets_how_much_changes(studio_env):
    kw = {k: v for k, v in SD.items() if k not in ("width", "height")}
    low = api.generate_image("a cat", seed=2, init_image=source(), denoising_strength=0.1, **kw)
    high = api.generate_image("a cat", seed=2, init_image=source(), denoising_strength=1.0, **kw)
    assert low.images[0].size == (64, 64)
    assert "Denoising strength: 0.1" in low.infotexts[0]
    assert not np.array_equal(pixels(low.images[0]), pixels(high.images[0]))
    again = api.generate_image("a cat", seed=2, init_image=source(), denoising_strength=0.1, **kw)
    assert np.array_equal(pixels(low.images[0]), pixels(again.images[0]))


def test_inpainting_repaints_the_mask_and_keeps_every_other_pixel(studio_env):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (8, 8, 24, 24))
    out = api.generate_image("a cat", seed=2, init_image=source(), mask=mask, denoising_strength=1.0, **SD).images[0]
    inside = np.asarray(mask) > 0
    diff = np.abs(pixels(out) - pixels(source())).mean(-1)
    assert diff[~inside].max() == 0
    assert diff[inside].mean() > 10


def test_inpainting_reads_a_drawn_layer_alpha_as_the_mask(studio_env):
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (40, 40, 60, 60))
    out = api.generate_image("a cat", seed=2, init_image=source(), mask=layer, **SD).images[0]
    diff = np.abs(pixels(out) - pixels(source())).mean(-1)
    assert diff[:40, :40].max() == 0 and diff[40:60, 40:60].mean() > 0


@pytest.mark.parametrize("kwargs,key", [
    (dict(mask=Image.new("L", (64, 64), 255)), "mask_needs_image"),
    (dict(init_image=source(), mask=Image.new("L", (64, 64), 0)), "empty_mask"),
    (dict(init_image="/etc/hostname"), "not_an_image"),
    (dict(init_image=source(), denoising_strength=0), "out_of_range"),
    (dict(hires_scale=5), "out_of_range"),
    (dict(hires_scale=2, hires_upscaler="Bicubic"), "out_of_range"),
    (dict(hires_scale=2, hires_strength="lots"), "bad_number"),
])
def test_bad_image_inputs_get_a_message(studio_env, kwargs, key):
    with pytest.raises(StudioError) as err:
        api.generate_image("a cat", seed=1, **{**SD, **kwargs})
    assert err.value.key == key
    assert err.value.message("zh") and err.value.message("en")


# -- hires fix -------------------------------------------------------------------------------------
@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_hires_fix_gives_the_upscaled_size_and_records_itself(studio_env, upscaler):
    kw = dict(seed=9, hires_scale=2, hires_upscaler=upscaler, hires_steps=3, hires_strength=0.5, **SD)
    result = api.generate_image("a cat", **kw)
    assert result.images[0].size == (128, 128)
    text = result.infotexts[0]
    assert "Size: 64x64" in text and "Hires upscale: 2" in text and f"Hires upscaler: {upscaler}" in text
    assert "Denoising strength: 0.5" in text
    again = api.generate_image("a cat", **kw)
    assert np.array_equal(pixels(result.images[0]), pixels(again.images[0]))


def test_hires_size_is_capped(studio_env):
    with pytest.raises(StudioError) as err:
        api.generate_image("a cat", seed=1, **{**SD, "width": 512, "height": 512}, hires_scale=4)
    assert err.value.key == "size_too_big"


# -- previews and stop -----------------------------------------------------------------------------
def test_previews_arrive_every_few_steps(studio_env):
    seen = []
    api.generate_image("a cat", seed=1, preview=lambda imgs, step, total: seen.append((imgs[0].size, step, total)),
                       preview_every=2, **{**SD, "steps": 6})
    assert seen == [((64, 64), 2, 6), ((64, 64), 4, 6)]


def test_stop_ends_the_run_and_keeps_the_finished_images(studio_env):
    stop = threading.Event()

    def progress(fraction, _text):
        if fraction > 0.5:  # during the second of three batches
            stop.set()
    result = api.generate_image("a cat", seed=1, batch_count=3, progress=progress, stop=stop, lang="en", **SD)
    assert result.seeds == [1]
    assert any("Stopped" in n for n in result.notices)
    assert manager().status()["loaded"][0]["in_use"] == 0
    stop.clear()
    assert len(api.generate_image("a cat", seed=1, batch_count=2, stop=stop, **SD).images) == 2


# -- 查看代码 for the new modes ----------------------------------------------------------------------
RUN_ALL = """import os, runpy, sys, torch
torch.set_num_threads(int(sys.argv[1]))
for folder in sys.argv[2:]:  # each script in its own folder, as a learner runs it (one interpreter: one import)
    os.chdir(folder)
    runpy.run_path("run.py", run_name="__main__")
"""

CASES = {
    "weighting": ("tiny-sd15", dict(prompt="a (red:1.5) [cat]", negative_prompt="blurry")),
    "sdxl-long": ("tiny-sdxl", dict(prompt="a (red:1.5) cat, " + FILLER, negative_prompt="")),
    "hires-latent": ("tiny-sd15", dict(prompt="a cat", hires_scale=2, hires_upscaler="Latent", hires_steps=3,
                                       hires_strength=0.5)),
    "hires-lanczos": ("tiny-sd15", dict(prompt="(a cat)", hires_scale=1.5, hires_upscaler="Lanczos", hires_steps=2,
                                        hires_strength=0.6)),
    "edit": ("tiny-sd15", dict(prompt="a [cat:dog:2] in the [snow|rain]", negative_prompt="[blur::1]")),
    "edit-hires": ("tiny-sd15", dict(prompt="a [cat:dog:1.5]", hires_scale=1.5, hires_upscaler="Latent", hires_steps=3,
                                     hires_strength=0.7)),
    "break": ("tiny-sd15", dict(prompt="a cat BREAK snow", negative_prompt="blur")),
    "sdxl-edit-break": ("tiny-sdxl", dict(prompt="a [cat:(dog:1.3):2] BREAK snow", negative_prompt="")),
    "sdxl-batch": ("tiny-sdxl", dict(prompt="a red circle", negative_prompt="blurry", sampler="Euler a", batch_size=2)),
    "shapes-batch": ("mini-shapes", dict(prompt="a red circle", negative_prompt="blurry", batch_size=2)),
    "exponential": ("mini-shapes", dict(prompt="a red circle", sampler="Euler", schedule_type="Exponential")),
    "sde-heun-simple": ("tiny-sd15", dict(prompt="a cat", sampler="DPM++ 2M SDE Heun", schedule_type="Simple")),
    "img2img": ("tiny-sd15", dict(prompt="a cat", init_image="init", denoising_strength=0.6)),
    "inpaint": ("tiny-sd15", dict(prompt="a cat", init_image="init", mask="mask", denoising_strength=0.9)),
    # ControlNet (issue 43): the page's control images saved as control-0.png ... beside the script
    "control": ("tiny-sd15", dict(prompt="a cat", controls=["scribble"], batch_size=2)),
    "control-two-img2img": ("tiny-sd15", dict(prompt="a cat", init_image="init", denoising_strength=0.7,
                                              controls=["scribble", "canny"], guess_mode=True)),
    "control-inpaint": ("tiny-sd15", dict(prompt="a cat", init_image="init", mask="mask", denoising_strength=0.9,
                                          controls=["canny"])),
    "control-sdxl-hires": ("tiny-sdxl", dict(prompt="a cat", sampler="Euler a", hires_scale=1.5, hires_steps=2,
                                             controls=["scribble"])),
}


def control_units(kinds: list[str], model: str) -> list[dict]:
    """Units of the kinds named: a drawn outline (scribble) or a picture's edges (canny), at weight 0.8 from 10%."""
    drawing = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(drawing).ellipse((12, 12, 50, 50), outline="black", width=3)
    net = "tiny-controlnet-sdxl" if model == "tiny-sdxl" else "tiny-controlnet-sd15"
    return [{"kind": k, "image": drawing if k == "scribble" else source(), "model": net, "weight": 0.8,
             "start": 0.1} for k in kinds]


def test_exported_code_reproduces_weighting_hires_img2img_and_inpainting(studio_env, models_dir, tmp_path):
    """Each mode's script, in a folder of its own with the model beside it, makes the page's picture."""
    import subprocess
    import sys
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (10, 10, 40, 40))
    made = {}
    for name, (model, extra) in CASES.items():
        folder = tmp_path / name
        folder.mkdir()
        kw = {**dict(model=model, sampler="DPM++ 2M Karras", steps=4, cfg_scale=6, seed=77, width=64, height=64,
                     batch_size=1), **extra}
        if kw.get("init_image") == "init":
            source().save(folder / "init.png")
            kw["init_image"] = source()
        if kw.get("mask") == "mask":
            mask.save(folder / "mask.png")
            kw["mask"] = mask
        if "controls" in kw:  # the control images the page shows in its preview, saved as the script asks
            kw["controls"] = control_units(kw["controls"], model)
            for i, unit in enumerate(kw["controls"]):
                api.preview_control(unit, model, 64, 64).save(folder / f"control-{i}.png")
            beside(folder, models_dir / kw["controls"][0]["model"])
        made[name] = api.generate_image(**kw, save=False)
        beside(folder, ROOT / "assets" if model == "mini-shapes" else models_dir / model)  # as its comment says
        (folder / "run.py").write_text(api.export_code(**kw), encoding="utf-8")
    (tmp_path / "run_all.py").write_text(RUN_ALL, encoding="utf-8")
    done = subprocess.run([sys.executable, "run_all.py", str(torch.get_num_threads()),
                           *(str(tmp_path / name) for name in CASES)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in CASES:
        for image, seed in zip(made[name].images, made[name].seeds, strict=True):  # a batch: each picture
            again = np.asarray(Image.open(tmp_path / name / f"image-{seed}.png").convert("RGB"), dtype=float)
            assert again.shape == pixels(image).shape, name
            assert np.abs(again - pixels(image)).mean() < 1.0, name
