"""The `parameters` text: written as the web UIs write it, read back from theirs and ours (PNG, JPEG, WebP)."""
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from studio.core.errors import StudioError
from studio.image.infotext import format_infotext, parse_infotext, read_image_text, unapplied_fields


DATA = Path(__file__).parent / "data" / "infotexts"  # real A1111 / Forge infotexts; README.md: where from
A1111 = ("masterpiece, a cat\nNegative prompt: lowres, blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, "
         "CFG scale: 7, Seed: 1057871485, Size: 512x768, Model hash: 7460a6fa2b, Model: v1-5-pruned-emaonly, "
         "Lora hashes: \"ink: 0123456789\", Version: v1.10.1")


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8").rstrip("\n")


def test_reads_the_web_ui_format_including_split_schedule():
    p = parse_infotext(A1111)
    assert p["prompt"] == "masterpiece, a cat" and p["negative_prompt"] == "lowres, blurry"
    assert (p["sampler"], p["schedule_type"]) == ("DPM++ 2M", "Karras") and p["steps"] == 20 and p["cfg_scale"] == 7.0
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


# ---- real infotexts, field by field (issue 41) ----

SD15_PROMPT = ("a full-body portrait of a kamen rider, standing on a beautiful, green, lush, natural landscape with "
               "blue sky and water. The kamen rider must wear the mask.")
EXPECTED = {
    "a1111-v1.10.1-sd15.txt": {
        "prompt": SD15_PROMPT, "negative_prompt": "", "steps": 20, "sampler": "DPM++ 2M", "schedule_type": "Karras",
        "cfg_scale": 7.0, "seed": 1741860054, "width": 512, "height": 512, "model_hash": "6ce0161689",
        "model": "v1-5-pruned-emaonly", "Version": "v1.10.1"},
    "a1111-v1.10.1-sdxl.txt": {
        "prompt": "cat portrait,", "negative_prompt": "lowres,bad anatomy,bad hands,text,error,missing fingers,extra "
        "digit,fewer digits,cropped,worst quality,low quality,jpeg artifacts,signature,watermark,username,blurry,nsfw,"
        "painting,drawing,illustration,cartoon,anime,sketch", "steps": 13, "sampler": "DPM++ 2M",
        "schedule_type": "Karras", "cfg_scale": 4.0, "seed": 2535254266, "Face restoration": "CodeFormer",
        "width": 1216, "height": 832, "model_hash": "31e35c80fc", "model": "sd_xl_base_1.0",
        "FP8 weight": "Enable for SDXL", "Cache FP16 weight for LoRA": "True", "Version": "v1.10.1"},
    "a1111-v1.10.1-pag-seg.txt": {  # no prompt line at all
        "prompt": "", "negative_prompt": "", "steps": 48, "sampler": "DDIM CFG++", "schedule_type": "Automatic",
        "cfg_scale": 6.0, "seed": 3581144351, "width": 1024, "height": 1024, "model_hash": "a22204df31",
        "model": "last", "VAE hash": "235745af8d", "vae": "sdxl-vae-fp16-fix.vae.safetensors", "clip_skip": 2,
        "SEG Active": "True", "SEG Blur Sigma": "11", "SEG Start Step": "0", "SEG End Step": "2048",
        "PAG Active": "True", "PAG SANF": "True", "PAG Scale": "1", "PAG Start Step": "0", "PAG End Step": "2048",
        "Version": "v1.10.1"},
    "forge-f2.0.1-civitai-70668697.txt": {
        "prompt": text("forge-f2.0.1-civitai-70668697.txt").split("\n")[0],
        "negative_prompt": "worst quality, normal quality, anatomical nonsense, bad anatomy,interlocked fingers, "
        "extra fingers,watermark,simple background, loli,", "steps": 35, "sampler": "DPM++ 2M SDE",
        "schedule_type": "Karras", "cfg_scale": 4.0, "seed": 4081830789, "width": 1072, "height": 1376,
        "model_hash": "c364bbdae9", "model": "waiNSFWIllustrious_v110", "denoising_strength": 0.45, "clip_skip": 2,
        "ADetailer model": "face_yolov8n.pt", "ADetailer confidence": "0.3", "ADetailer mask only top k largest": "1",
        "ADetailer dilate erode": "4", "ADetailer mask blur": "4", "ADetailer denoising strength": "0.4",
        "ADetailer inpaint only masked": "True", "ADetailer inpaint padding": "32", "ADetailer version": "24.8.0",
        "Hires upscale": 1.4, "Hires steps": 15, "Hires upscaler": "4x-UltraSharp",
        "Lora hashes": "iLLMythM4gicalL1nes: 2248ee0a005f", "Version": "f2.0.1v1.10.1-previous-519-g44eb4ea8"},
    "forge-f2.0.1-module.txt": {
        "prompt": "", "negative_prompt": "", "steps": 30, "sampler": "Euler a", "schedule_type": "Automatic",
        "cfg_scale": 7.0, "seed": 539894433, "width": 832, "height": 1216, "model_hash": "137ebf59ea",
        "model": "KN-VanguardMix.fp16", "denoising_strength": 0.3, "clip_skip": 2, "Hashes": '{"model": "137ebf59ea"}',
        "Hires Module 1": "Built-in", "Hires CFG Scale": "1", "Hires upscale": 2.0, "Hires steps": 15,
        "Hires upscaler": "4x_Fatality_Comix_260000_G", "Version": "f2.0.1v1.10.1-previous-659-gc055f2d4",
        "Module 1": "sdxl_vae"},
    # Before 2023 Size was the final size: "First pass size: 0x0" is A1111's own ~512x512 first pass (448x704 here,
    # old_hires_fix_first_pass_dimensions), from which no one scale makes 960x1600: kept as "Hires resize".
    "a1111-2022-first-pass-0x0.txt": {
        "prompt": text("a1111-2022-first-pass-0x0.txt").split("\n")[0],
        "negative_prompt": "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, worst quality, "
        "low quality, normal quality, lipstick, 2koma, 3koma, dutch angle, blush, from behind", "steps": 28,
        "sampler": "Euler a", "schedule_type": "Automatic", "cfg_scale": 12.0, "seed": 4236324744, "width": 448,
        "height": 704, "Hires resize": "960x1600", "model_hash": "855959a4", "denoising_strength": 0.7,
        "clip_skip": 2, "ENSD": "31337"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_a1111_and_forge_infotexts_load_field_by_field(name):
    assert parse_infotext(text(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_key_of_a_real_infotext_is_dropped(name):
    """Every `Key:` of the parameters line is a field: under the studio's name, or its own (Module 1, TI hashes)."""
    from studio.image.infotext import _PAIR, FIELDS
    fields, named = parse_infotext(text(name)), dict(FIELDS)
    read_as = {"Size": ("width", "height"), "First pass size": ("Hires resize",)}
    for key, _value in _PAIR.findall(text(name).split("\n")[-1]):
        assert all(f in fields for f in read_as.get(key, (named.get(key, key),))), key


# ---- JPEG and WebP: the EXIF UserComment A1111 writes ----

def png_with(text: str, path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)  # as A1111 saves a PNG
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def test_jpeg_and_webp_infotexts_read_like_the_png(tmp_path):
    from studio.image import api
    expected = text("a1111-v1.10.1-sd15.txt")
    png = png_with(expected, tmp_path / "same.png")
    for name in ("a1111-v1.10.1-sd15.jpg", "a1111-v1.10.1-sd15.webp"):
        image = Image.open(DATA / name)
        raw = image.getexif().get_ifd(0x8769)[0x9286]  # the fixture is A1111's bytes: UNICODE, UTF-16 big-endian
        assert raw == b"UNICODE\0" + expected.encode("utf-16-be")
        assert read_image_text(image) == expected
        assert api.read_infotext(str(DATA / name)) == api.read_infotext(str(png)) == EXPECTED["a1111-v1.10.1-sd15.txt"]


def jpeg(tmp_path, user_comment: bytes | None = None, **save) -> str:
    image = Image.new("RGB", (8, 8))
    exif = image.getexif()
    if user_comment is not None:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    path = tmp_path / f"x{len(list(tmp_path.iterdir()))}.jpg"
    image.save(path, exif=exif, **save)
    return str(path)


def test_other_writers_user_comments_and_jpeg_comments_are_read(tmp_path):
    infotext = "a cat, 猫\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64"
    written = {
        "UTF-16 little-endian": b"UNICODE\0" + infotext.encode("utf-16-le"),
        "byte-order mark": b"UNICODE\0" + infotext.encode("utf-16"),
        "ASCII code": b"ASCII\0\0\0" + infotext.encode("utf-8"),
        "undefined code": b"\0" * 8 + infotext.encode("utf-8"),
    }
    for how, raw in written.items():
        assert read_image_text(Image.open(jpeg(tmp_path, raw))) == infotext, how
    assert read_image_text(Image.open(jpeg(tmp_path, comment=infotext.encode()))) == infotext  # JPEG COM segment


def test_an_image_without_parameters_says_so_without_calling_it_a_png(tmp_path):
    from studio.core.i18n import t
    from studio.image import api
    for path in (jpeg(tmp_path), jpeg(tmp_path, b"UNICODE\0"), str(png_with("", tmp_path / "empty.png"))):
        with pytest.raises(StudioError) as error:
            api.read_infotext(path)
        assert error.value.key == "no_infotext"
    assert "图片里没有生成参数" in t("no_infotext", "zh") and "JPEG" in t("no_infotext", "en")
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    with pytest.raises(StudioError) as error:
        api.read_infotext(str(tmp_path / "junk.jpg"))
    assert error.value.key == "not_an_image"


# ---- A1111's hires forms, old and new, into the studio's scale ----

HIRES = "a\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Denoising strength: 0.6, "


@pytest.mark.parametrize("sizes, first_pass, scale", [
    ("Size: 1280x1024, First pass size: 640x512", (640, 512), 2.0),  # A1111's wiki, 2023-01-03 hires fix rework
    ("Size: 1024x1024, First pass size: 0x0", (512, 512), 2.0),  # 0x0: A1111 chose the first pass
    ("Size: 640x512, Hires resize: 1280x1024", (640, 512), 2.0),  # since 2023 "Hires resize" instead of a scale
    ("Size: 512x768, Hires resize: 0x1152", (512, 768), 1.5),  # one side 0: kept in aspect
])
def test_hires_sizes_become_the_first_pass_and_a_scale(sizes, first_pass, scale):
    from tabs.image import send_hires
    p = parse_infotext(HIRES + sizes)
    assert ((p["width"], p["height"]), p["Hires upscale"]) == (first_pass, scale)
    assert "First pass size" not in p and "Hires resize" not in p
    assert send_hires(p, 1, "Lanczos", 8, 0.5) == (scale, "Lanczos", 0, 0.6)  # no Hires steps written: 0


def test_hires_settings_the_studio_cannot_make_are_kept_and_the_fix_left_off():
    from tabs.image import send_hires
    p = parse_infotext(HIRES + "Size: 1024x512, First pass size: 512x512")  # A1111 cropped: no one scale
    assert ((p["width"], p["height"]), p["Hires resize"]) == ((512, 512), "1024x512") and "Hires upscale" not in p
    assert "Hires resize: 1024x512" in unapplied_fields(p)
    assert send_hires(p, 2, "Latent", 8, 0.5) == (1, "Latent", 8, 0.5)
    forge = parse_infotext(text("forge-f2.0.1-civitai-70668697.txt"))  # 4x-UltraSharp: scale and steps only
    assert send_hires(forge, 1, "Lanczos", 0, 0.5) == (1.4, "Lanczos", 15, 0.45)
    assert "Hires upscaler: 4x-UltraSharp" in unapplied_fields(forge)
    latent = parse_infotext(HIRES + "Size: 512x512, Hires upscale: 2, Hires upscaler: Latent (nearest-exact)")
    assert "Hires upscaler: Latent (nearest-exact)" in unapplied_fields(latent)
    assert send_hires(parse_infotext(HIRES + "Size: 64x64"), 2, "Latent", 8, 0.5)[0] == 1  # none written: off


# ---- fields the page will not apply, shown ----

def test_unapplied_fields_name_what_send_to_txt2img_leaves_alone():
    fields = parse_infotext(text("forge-f2.0.1-civitai-70668697.txt"))
    skipped = unapplied_fields(fields, models={"waiNSFWIllustrious_v110"})
    assert skipped == ["Clip skip: 2", "ADetailer model: face_yolov8n.pt", "ADetailer confidence: 0.3",
                       "ADetailer mask only top k largest: 1", "ADetailer dilate erode: 4", "ADetailer mask blur: 4",
                       "ADetailer denoising strength: 0.4", "ADetailer inpaint only masked: True",
                       "ADetailer inpaint padding: 32", "ADetailer version: 24.8.0", "Hires upscaler: 4x-UltraSharp",
                       "Lora hashes: iLLMythM4gicalL1nes: 2248ee0a005f",
                       "Version: f2.0.1v1.10.1-previous-519-g44eb4ea8"]
    assert unapplied_fields(fields)[:2] == ["Model hash: c364bbdae9", "Model: waiNSFWIllustrious_v110"]
    pag = unapplied_fields(parse_infotext(text("a1111-v1.10.1-pag-seg.txt")), models={"last"})
    assert pag[:3] == ["Sampler: DDIM CFG++", "VAE hash: 235745af8d", "VAE: sdxl-vae-fp16-fix.vae.safetensors"]
    odd = parse_infotext("a\nSteps: 20, Sampler: Euler a, Schedule type: Align Your Steps, Seed: 1, Size: 8x8, "
                         "Variation seed: 7, Lora hashes: \"a: 1, b: 2\"")
    assert unapplied_fields(odd) == ["Schedule type: Align Your Steps", "Variation seed: 7",
                                     'Lora hashes: "a: 1, b: 2"']
    assert unapplied_fields(EXPECTED["a1111-v1.10.1-sd15.txt"], models={"v1-5-pruned-emaonly"}) == \
        ["Version: v1.10.1"]


def test_old_prompt_editing_timelines_is_read_and_written_only_when_on():
    on = parse_infotext("a\nSteps: 20, Sampler: Euler, Seed: 1, Old prompt editing timelines: True")
    assert on["use_old_scheduling"] is True
    written = format_infotext("a", "", {"steps": 20, "seed": 1, "use_old_scheduling": True, "Mask blur": 0})
    assert "Old prompt editing timelines: True" in written and "Mask blur: 0" in written
    assert "Old prompt editing" not in format_infotext("a", "", {"steps": 20, "use_old_scheduling": False})
    assert parse_infotext(written)["use_old_scheduling"] is True


@pytest.fixture
def page_settings(tmp_path):
    from studio.core import config
    config.configure([], env={"STUDIO_MODEL_DIRS": str(tmp_path / "models"), "STUDIO_HUB": "local",
                              "STUDIO_OUTPUT_DIR": str(tmp_path / "outputs")})
    yield
    config.configure([], env={})


def test_png_info_shows_what_it_will_not_apply_in_the_pages_language(page_settings, tmp_path):
    from tabs import image as image_tab
    path = DATA / "a1111-v1.10.1-pag-seg.txt"
    png = png_with(path.read_text(encoding="utf-8"), tmp_path / "pag.png")
    for file in (str(png), str(DATA / "a1111-v1.10.1-sd15.webp")):
        shown, fields, _note = image_tab.read_png(file, "zh")
        assert shown == read_image_text(Image.open(file)) and fields == parse_infotext(shown)
    shown, fields, zh = image_tab.read_png(str(png), "zh")
    _shown, _fields, en = image_tab.read_png(str(png), "en")
    assert zh.startswith("- 以下参数本工作室不会应用：")
    assert en.startswith("- The studio will not apply these parameters:")
    for note in (zh, en):
        assert "Clip skip: 2" in note and "DDIM CFG++" in note and "PAG Scale: 1" in note and "Steps" not in note
    assert image_tab.read_png(None, "zh") == ("", {}, "")
