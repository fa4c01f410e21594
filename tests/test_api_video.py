"""studio.api.generate_video on a tiny WanPipeline built from configs (the classes of Wan2.1-T2V)."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from studio import api
from studio.core.errors import StudioError
from tests.conftest import beside


MODEL = "tiny-wan"
SMALL = dict(steps=2, num_frames=5, fps=8, width=32, height=32)


def test_the_mp4_plays_back_as_requested_with_its_parameters_beside_it(studio_env):
    result = api.generate_video("a red circle moving right", None, MODEL, seed=3, **SMALL)
    frames = iio.imread(result.path, plugin="FFMPEG")  # what a player decodes
    meta = iio.immeta(result.path, plugin="FFMPEG")
    assert frames.shape == (5, 32, 32, 3) and meta["fps"] == 8 and meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")  # browsers play H.264 only as 4:2:0
    params = json.loads(result.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert params["seed"] == 3 and params["negative_prompt"] == "low quality, watermark, glitch"
    assert len(result.frames) == 5 and result.frames[0].size == (32, 32)


def test_same_seed_same_frames_and_another_seed_differs(studio_env):
    a = api.generate_video("a blue star", "", MODEL, seed=11, save=False, **SMALL)
    b = api.generate_video("a blue star", "", MODEL, seed=11, save=False, **SMALL)
    c = api.generate_video("a blue star", "", MODEL, seed=12, save=False, **SMALL)
    pixels = lambda r: np.stack([np.asarray(f) for f in r.frames])  # noqa: E731
    assert np.array_equal(pixels(a), pixels(b)) and not np.array_equal(pixels(a), pixels(c))
    assert a.path is None


def test_frames_and_sizes_are_rounded_to_what_wan_accepts_with_notices(studio_env):
    result = api.generate_video("x", "", MODEL, steps=1, seed=1, num_frames=16, width=44, height=24, save=False,
                                lang="en")
    assert len(result.frames) == 17 and result.frames[0].size == (48, 32)
    assert any("rounded to 17" in n for n in result.notices) and any("multiple of 16" in n for n in result.notices)


def test_flow_shift_reaches_the_scheduler_and_is_not_kept_for_the_next_run(studio_env):
    api.generate_video("x", "", MODEL, seed=1, flow_shift=7.0, save=False, **SMALL)
    from studio.core.manager import manager
    assert manager().get(MODEL).scheduler.config.flow_shift == 7.0
    api.generate_video("x", "", MODEL, seed=1, save=False, **SMALL)
    assert manager().get(MODEL).scheduler.config.flow_shift == 3.0  # the model's own again


@pytest.mark.parametrize("kwargs,key", [
    (dict(num_frames=1000), "video_too_big"),
    (dict(width=99999), "video_too_big"),
    (dict(steps=0), "out_of_range"),
    (dict(fps="fast"), "bad_number"),
    (dict(model="tiny-sd15"), "wrong_task"),
])
def test_bad_input_gets_a_message(studio_env, kwargs, key):
    call = dict(prompt="x", model=MODEL, seed=1, save=False) | SMALL | kwargs
    with pytest.raises(StudioError) as err:
        api.generate_video(**call)
    assert err.value.key == key and err.value.message("en")


def test_too_big_is_refused_with_what_it_would_need(studio_env):
    with pytest.raises(StudioError) as err:
        api.generate_video("x", None, "wan2.1-t2v-1.3b", num_frames=161, width=1920, height=1088)
    message = err.value.message("en")
    assert "1280" in message and "81" in message and "MB" in message and "tokens" in message


@pytest.mark.parametrize("free_mb, size, frames", [
    (24000, (832, 480), 17), (10001, (832, 480), 17), (10000, (640, 384), 13), (7001, (640, 384), 13),
    (7000, (576, 320), 9), (4001, (576, 320), 9), (4000, (448, 256), 9), (0, (448, 256), 9)])
def test_memory_recommendation_follows_the_course_rule_fitted_to_wan(studio_env, free_mb, size, frames):
    r = api.recommend_video_settings("wan2.1-t2v-1.3b", free_mb=free_mb, lang="en")
    assert (r["width"], r["height"]) == size and r["num_frames"] == frames  # 16 -> 17, 12 -> 13, 8 -> 9, 6 -> 9
    assert r["width"] % 16 == r["height"] % 16 == 0 and (r["num_frames"] - 1) % 4 == 0
    assert str(int(free_mb)) in r["reason"]


def test_on_a_cpu_the_recommendation_is_the_models_own_settings(studio_env):
    r = api.recommend_video_settings("mini-motion", lang="en")
    assert (r["width"], r["height"], r["num_frames"]) == (64, 64, 8) and "GPU" in r["reason"]
    assert api.recommend_video_settings("mini-motion", free_mb=20000)["width"] == 64  # the rule is for Wan


def test_a_gif_is_saved_beside_the_mp4(studio_env):
    result = api.generate_video("a red circle", None, MODEL, seed=2, **SMALL)
    gif = iio.imread(result.gif, index=None)
    assert result.gif.suffix == ".gif" and gif.shape[:3] == (5, 32, 32)


def test_stop_ends_the_run_with_a_message_and_the_model_keeps_working(studio_env):
    import threading
    stop = threading.Event()
    stop.set()
    with pytest.raises(StudioError) as err:
        api.generate_video("a red circle", None, MODEL, seed=2, stop=stop, **SMALL)
    assert err.value.key == "video_interrupted"
    assert len(api.generate_video("a red circle", None, MODEL, seed=2, save=False, **SMALL).frames) == 5


def test_progress_reports_steps_and_time_left(studio_env):
    seen = []
    api.generate_video("a red circle", None, MODEL, seed=2, save=False, lang="en",
                       progress=lambda fraction, text: seen.append((fraction, text)), **{**SMALL, "steps": 3})
    steps = [(f, t) for f, t in seen if "step" in t]
    assert [f for f, _ in steps] == pytest.approx([1 / 3, 2 / 3, 1]) and "left" in steps[0][1]


def test_exported_code_makes_the_pages_video(studio_env, models_dir, tmp_path):
    import subprocess
    import sys
    page = api.generate_video("a red circle", None, MODEL, seed=9, flow_shift=5.0, **SMALL)
    code = api.export_video_code("a red circle", None, MODEL, seed=9, flow_shift=5.0, **SMALL)
    # the script as shown, plus one line that keeps its frames before they are encoded (H.264 is lossy)
    (tmp_path / "run.py").write_text(code + 'np.save("frames.npy", frames)\n', encoding="utf-8")
    beside(tmp_path, models_dir / MODEL)  # the model's folder beside the script, as its comment says
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    made = np.load(tmp_path / "frames.npy").astype(float)
    shown = np.stack([np.asarray(f, float) for f in page.frames])
    assert made.shape == shown.shape and np.abs(made - shown).mean() < 1
    assert iio.imread(tmp_path / "video.mp4", plugin="FFMPEG").shape == (5, 32, 32, 3)


def test_spacetime_patches_and_frame_differences():
    from studio.video import plan as video_plan
    cost = video_plan.lecture_cost(60, 30, 1080, 1920, patch=16, price_per_million=10)
    assert cost["frames"] == 1800 and cost["tokens_per_frame"] == 68 * 120 and cost["tokens"] == 1800 * 8160
    assert cost["cost"] == pytest.approx(1800 * 8160 / 1e6 * 10)
    wan = video_plan.wan_patches(81, 480, 832)
    assert wan.grid == (21, 30, 52) and wan.tokens == 21 * 30 * 52
    still = [np.zeros((8, 8, 3), np.uint8)] * 3
    assert video_plan.frame_differences(still) == [0.0, 0.0]
    jump = still[:2] + [np.full((8, 8, 3), 255, np.uint8)]
    assert video_plan.frame_differences(jump) == [0.0, 255.0]


def test_modelscope_text_to_video_runs_with_its_own_rules(studio_env, models_dir, tmp_path):
    """ModelScope's 1.7B model (TextToVideoSDPipeline, tiny here): any frame count, sides in multiples of 8,
    no flow shift; progress, stop and 查看代码 work through its older callback."""
    import subprocess
    import sys
    import threading
    small = dict(steps=2, num_frames=6, fps=8, width=40, height=40)
    seen = []
    result = api.generate_video("a red circle", None, "tiny-t2v-sd", seed=5, lang="en",
                                progress=lambda f, text: seen.append(text), **small)
    assert iio.imread(result.path, plugin="FFMPEG").shape == (6, 40, 40, 3) and not result.notices
    assert any("step 2/2" in text for text in seen)
    shifted = api.generate_video("a red circle", None, "tiny-t2v-sd", seed=5, flow_shift=5.0, save=False, lang="en",
                                 **small)  # nothing to shift: said, not silently dropped, and the same video
    assert any("no flow shift" in n for n in shifted.notices)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(shifted.frames, result.frames))
    stop = threading.Event()
    stop.set()
    with pytest.raises(StudioError) as err:
        api.generate_video("a red circle", None, "tiny-t2v-sd", seed=5, stop=stop, **small)
    assert err.value.key == "video_interrupted"
    code = api.export_video_code("a red circle", None, "tiny-t2v-sd", seed=5, **small)
    assert "TextToVideoSDPipeline" in code and "flow_shift" not in code
    (tmp_path / "run.py").write_text(code + 'np.save("frames.npy", frames)\n', encoding="utf-8")
    beside(tmp_path, models_dir / "tiny-t2v-sd")
    out = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    made = np.load(tmp_path / "frames.npy").astype(float)
    assert np.abs(made - np.stack([np.asarray(f, float) for f in result.frames])).mean() < 1


def test_a_model_trained_on_short_prompt_padding_gets_it(studio_env, models_dir):
    """Wan pads prompt embeddings to max_sequence_length and attends to the padding too, so a model trained
    with 16 (its tokenizer's model_max_length; the Wan mini-motion of train.py: 32) must be run with 16, not 512."""
    import torch
    from diffusers import WanPipeline

    from tests.tiny_models import break_file
    config_file = models_dir / MODEL / "tokenizer" / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    break_file(config_file, json.dumps({**config, "model_max_length": 16}).encode())
    page = api.generate_video("a red circle", "", MODEL, seed=4, save=False, **SMALL)
    pipe = WanPipeline.from_pretrained(models_dir / MODEL)
    pipe.set_progress_bar_config(disable=True)

    def direct(length):
        return pipe("a red circle", negative_prompt="", num_frames=5, width=32, height=32, num_inference_steps=2,
                    guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(4), output_type="np",
                    max_sequence_length=length).frames[0]
    shown = np.stack([np.asarray(f, float) for f in page.frames])
    assert np.abs(np.rint(direct(16) * 255) - shown).mean() < 1
    assert np.abs(np.rint(direct(512) * 255) - shown).mean() > 1


def test_the_tabs_frame_and_flow_shift_controls_follow_the_model(studio_env):
    """Wan counts frames in fours and has a flow shift; a 3D UNet takes any frame count and has no shift, so
    its frame slider steps by one and the shift slider is hidden (it would do nothing)."""
    from tabs import video
    wan, unet3d = video.model_defaults("tiny-wan", "en"), video.model_defaults("tiny-t2v-sd", "en")
    frames, shift = 2, 6  # positions in the handler's outputs
    assert wan[frames]["step"] == 4 and wan[shift]["visible"] is True
    assert unet3d[frames]["step"] == 1 and unet3d[shift]["visible"] is False
    assert video._shift("tiny-t2v-sd", 3.0) is None and video._shift("tiny-wan", 3.0) == 3.0
