"""Knobs declared once (issue 37): each modality's KNOBS table (studio/<modality>/knobs.py) gives both the range the
API's validation accepts and its tab's sliders' minimum / maximum / step, so the two cannot drift apart again (the
video tab's CFG slider stopped at 15 while generate_video accepted 30)."""
from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from studio import api
from studio.core import config
from studio.core.errors import StudioError
from studio.crossmodal.knobs import KNOBS as CROSSMODAL
from studio.image.knobs import KNOBS as IMAGE
from studio.lora.knobs import KNOBS as LORA
from studio.music.knobs import KNOBS as MUSIC
from studio.speech.knobs import KNOBS as SPEECH
from studio.text.knobs import KNOBS as TEXT
from studio.video.knobs import KNOBS as VIDEO
from tabs.ui import s


TABLES = {"image": IMAGE, "text": TEXT, "video": VIDEO, "speech": SPEECH, "lora": LORA, "crossmodal": CROSSMODAL,
          "music": MUSIC}

# Sliders of the page that are no API knob, each with why (by its label key).
PAGE_ONLY = {
    "explain.t": "原理's timestep: its range is the chosen model's own scheduler (0 .. its training timesteps - 1), "
                 "checked per model by studio.image.explain",
    "music.index": "the next-note view's note number: its range is the melody just made (1 .. its notes)",
}

# Operator limits other than the defaults: the sliders that depend on settings must follow them.
ENV = {"STUDIO_HUB": "local", "STUDIO_MAX_STEPS": "120", "STUDIO_MAX_BATCH": "4", "STUDIO_MAX_NEW_TOKENS": "1000"}


@pytest.fixture(scope="module")
def sliders():
    import app
    config.configure([], env=ENV)
    try:
        demo = app.build_demo()
        yield [b for b in demo.blocks.values() if isinstance(b, gr.Slider)]
    finally:
        config.configure([], env={})


@pytest.fixture
def page_settings():
    config.configure([], env=ENV)
    yield
    config.configure([], env={})


def test_every_slider_takes_its_range_and_step_from_its_knob(sliders, page_settings):
    knobs = [b for b in sliders if hasattr(b, "studio_knob")]
    assert len(knobs) >= 40
    for slider in knobs:
        knob = slider.studio_knob
        assert any(knob is k for table in TABLES.values() for k in table.values()), (slider.label, knob)
        low, high = knob.bounds
        assert (slider.minimum, slider.maximum) == (low, high), (slider.label, knob)
        if knob.step is not None:  # None: the model's own step (a video model's frame step)
            assert slider.step == knob.step, (slider.label, knob)


def test_every_slider_is_a_knob_or_listed_as_page_only(sliders):
    page_only = {s(key, "zh"): key for key in PAGE_ONLY}
    others = [b.label for b in sliders if not hasattr(b, "studio_knob")]
    assert sorted(others) == sorted(page_only), "a slider that is no knob: declare it in its KNOBS (or PAGE_ONLY)"


def test_every_knob_has_its_slider(sliders):
    used = {id(b.studio_knob) for b in sliders if hasattr(b, "studio_knob")}
    unused = [f"{name}.{k.name}" for name, table in TABLES.items() for k in table.values() if id(k) not in used]
    assert not unused


def test_settings_reach_the_sliders(sliders, page_settings):
    by_knob = {id(b.studio_knob): b for b in sliders if hasattr(b, "studio_knob")}
    assert by_knob[id(IMAGE["steps"])].maximum == by_knob[id(VIDEO["steps"])].maximum == 120
    assert by_knob[id(IMAGE["batch_size"])].maximum == 4
    assert by_knob[id(TEXT["max_new_tokens"])].maximum == 1000


def test_video_cfg_goes_to_the_apis_30_with_the_courses_advice(sliders):
    assert VIDEO["cfg_scale"].bounds == (1, 30) and VIDEO["cfg_scale"].advice == (5, 6)
    cfg = next(b for b in sliders if getattr(b, "studio_knob", None) is VIDEO["cfg_scale"])
    assert cfg.maximum == 30 and "5-6" in cfg.info and "1-30" in cfg.info


# -- the API reads the same table ------------------------------------------------------------------
class _Reached(Exception):
    """The call got past its checks to the model manager."""


class _NoModels:
    def __getattr__(self, name):
        raise _Reached(name)


ARTICLE = "小猫在草地上玩。它追着一只蝴蝶跑。天黑了，它回到了家。"
PICTURE = Image.new("RGB", (64, 64), "white")
EDGES = Image.new("RGB", (64, 64), "white")
EDGES.paste((0, 0, 0), (16, 16, 48, 48))  # a picture with edges: its Canny map is not empty
CALLS = {  # (table, knob name): the public call with the knob set to v
    **{("image", n): (lambda n: lambda v: api.generate_image("a", model="mini-shapes", save=False, **{n: v}))(n)
       for n in ("steps", "cfg_scale", "batch_size", "batch_count", "hires_scale")},
    ("image", "denoising_strength"): lambda v: api.generate_image("a", model="mini-shapes", init_image=PICTURE,
                                                                  denoising_strength=v, save=False),
    ("image", "hires_steps"): lambda v: api.generate_image("a", model="mini-shapes", hires_scale=2, hires_steps=v,
                                                           save=False),
    ("image", "hires_strength"): lambda v: api.generate_image("a", model="mini-shapes", hires_scale=2,
                                                              hires_strength=v, save=False),
    ("image", "lora_weight"): lambda v: api.generate_image("a", model="mini-shapes", loras={"ink": v}, save=False),
    **{("text", n): (lambda n: lambda v: api.generate_text("床前", "mini-poem", **{n: v}))(n) for n in TEXT},
    **{("video", n): (lambda n: lambda v: api.generate_video("a", model="mini-motion", save=False, **{n: v}))(n)
       for n in ("fps", "steps", "cfg_scale")},
    ("video", "flow_shift"): lambda v: api.generate_video("a", model="wan2.1-t2v-1.3b", flow_shift=v, save=False),
    **{("speech", n): (lambda n: lambda v: api.synthesize_speech("你好。", "espeak", save=False,
                                                                 **{"pause" if n == "break" else n: v}))(n)
       for n in SPEECH},
    **{("lora", n): (lambda n: lambda v: api.train_lora([PICTURE], "sks", "mini-shapes", **{n: v}))(n) for n in LORA},
    ("crossmodal", "count"): lambda v: api.story_images("小猫", count=v, save=False),
    ("crossmodal", "seed_step"): lambda v: api.write_series(seed_step=v),
    ("crossmodal", "shots"): lambda v: api.make_storyboard(ARTICLE, shots=v),
    **{("music", n): (lambda n: lambda v: api.generate_music(model="mini-melody", save=False, **{n: v}))(n)
       for n in ("temperature", "top_k", "top_p", "tempo", "velocity")},
    ("music", "guidance"): lambda v: api.generate_music("a song", "musicgen-small", guidance=v, save=False),
    **{("image", k): (lambda field: lambda v: api.generate_image(
        "a", model="mini-shapes", save=False, controls=[{"kind": "canny", "image": EDGES, field: v}]))(field)
       for k, field in (("control_weight", "weight"), ("control_start", "start"), ("control_end", "end"),
                        ("canny_low", "low"), ("canny_high", "high"))},
}
# Checked per model, not by the knob's range alone: sides by validate.size (each model's max_side, the table's high
# being the widest any model allows), frames by validate.frames (each model's frame step and cap), a melody's bars and
# an audio model's seconds by studio.music.api (mini-melody's max_bars, MusicGen's max_seconds).
PER_MODEL = {("image", "width"), ("image", "height"), ("video", "width"), ("video", "height"),
             ("video", "num_frames"), ("music", "bars"), ("music", "duration")}


def test_every_knob_is_checked_by_its_api_or_listed():
    assert set(CALLS) | PER_MODEL == {(name, k) for name, table in TABLES.items() for k in table}


@pytest.fixture
def no_models(studio_env, monkeypatch):
    """Calls stop where a model would run: only their checks are tried."""
    import studio.crossmodal.api
    import studio.image.api
    import studio.lora.api
    import studio.music.api
    import studio.speech.api
    import studio.text.api
    import studio.video.api
    for module in (studio.image.api, studio.text.api, studio.video.api, studio.speech.api, studio.lora.api,
                   studio.crossmodal.api, studio.music.api):
        monkeypatch.setattr(module, "manager", _NoModels)


def _refusal(call, value, knob) -> StudioError | None:
    """The StudioError this knob's check raised for `value`, or None when the call got past it."""
    try:
        call(value)
    except _Reached:
        return None
    except StudioError as err:
        if err.key in ("out_of_range", "bad_number") and err.params.get("name") == knob.name:
            return err
    return None  # refused for another reason (an unknown LoRA name...) or done without a model (rules)


@pytest.mark.parametrize("where", sorted(CALLS), ids="-".join)
def test_the_api_refuses_just_past_the_high_and_takes_the_high(no_models, where):
    knob = TABLES[where[0]][where[1]]
    low, high = knob.bounds
    err = _refusal(CALLS[where], high + (knob.step or 1), knob)
    assert err is not None and err.key == "out_of_range" and (err.params["low"], err.params["high"]) == (low, high)
    assert _refusal(CALLS[where], high, knob) is None
    assert _refusal(CALLS[where], low, knob) is None


def test_video_cfg_31_is_refused_and_30_taken(no_models):
    with pytest.raises(StudioError) as err:
        api.generate_video("a", model="mini-motion", cfg_scale=31, save=False)
    assert err.value.key == "out_of_range" and err.value.params["name"] == "cfg_scale"
    with pytest.raises(_Reached):
        api.generate_video("a", model="mini-motion", cfg_scale=30, save=False)
