"""Faults a shared server meets: a model that raises mid-run, a full outputs disk. The user gets a message, keeps
what was made, and every other tab keeps working."""
from __future__ import annotations

import errno

import imageio.v2
import imageio_ffmpeg
import pytest
from gradio_client import Client

from studio import api
from studio.core.errors import StudioError
from studio.core.manager import manager
from tests.serving import served


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_disk(monkeypatch):
    """Every way the studio writes an output fails as a full disk does: its atomic writer's temporary file and
    the two video writers."""
    monkeypatch.setattr("studio.core.outputs.tempfile.mkstemp", _no_space)
    monkeypatch.setattr(imageio.v2, "get_writer", _no_space)
    monkeypatch.setattr(imageio_ffmpeg, "write_frames", _no_space)


def test_full_disk_keeps_the_results_and_says_they_were_not_saved(studio_env, full_disk):
    image = api.generate_image("a red circle", model="tiny-sd15", steps=2, seed=1, width=64, height=64)
    assert image.images and not image.paths and "No space left" in image.notices[-1]
    video = api.generate_video("a red circle", model="tiny-wan", steps=2, seed=1, num_frames=5, width=32, height=32)
    assert len(video.frames) == 5 and video.path is None and any("No space left" in n for n in video.notices)
    speech = api.synthesize_speech("你好。")
    assert len(speech.audio) > 0 and speech.path is None and any("No space left" in n for n in speech.notices)
    page = api.compose_page([{"title": "t", "paragraphs": ["p"]}])
    assert "<h1>t</h1>" in page.html and page.zip_path is None and page.notices
    with pytest.raises(StudioError) as err:  # a narrated video exists only as its file: a message, nothing else
        api.storyboard_video([[1, "一个红色圆形", "你好。", ""]], fps=2)
    assert err.value.key == "story_not_saved"


def test_a_model_raising_mid_run_gives_a_message_and_the_studio_keeps_serving(studio_env, monkeypatch):
    from studio.image import api as image_api
    real_run = image_api.run_units
    calls = {"n": 0}

    def broken(pipe, units, nets=None):
        calls["n"] += 1
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(image_api, "run_units", broken)
    with served() as (url, _demo):
        client = Client(url, verbose=False)
        with pytest.raises(Exception) as err:
            client.predict("a red circle", "", "tiny-sd15", "Euler a", 2, 7, 1, 64, 64, 1, api_name="/generate_image")
        assert calls["n"] == 1 and "内部错误" in str(err.value) and "Traceback" not in str(err.value)
        assert all(row["in_use"] == 0 for row in manager().status()["loaded"])  # the model is not left in use
        text, _seed, _notices = client.predict("床前", "tiny-qwen2", 0.7, 0, 1.0, 4, 1.0, 3, api_name="/generate_text")
        assert isinstance(text, str)  # another tab works
        monkeypatch.setattr(image_api, "run_units", real_run)
        gallery, seeds, *_ = client.predict("a red circle", "", "tiny-sd15", "Euler a", 2, 7, 1, 64, 64, 1,
                                            api_name="/generate_image")
        assert seeds == "1" and len(gallery) == 1  # and the same model works again once it behaves
