"""AI-generated content labels: the implicit AIGC record in every saved output, the visible mark when switched on."""
from __future__ import annotations

import json
import subprocess
import zipfile

import imageio_ffmpeg
import numpy as np
from PIL import Image

from studio import api


def _ffmpeg_comment(path) -> str:
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    return next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.strip().startswith("comment")), "")


def _label(text: str) -> dict:
    assert text.startswith("AIGC=")
    return json.loads(text[len("AIGC="):])


def test_every_saved_output_carries_the_implicit_label(studio_env):
    studio_env(STUDIO_CONTENT_PRODUCER="某某中学 AI 实验室")
    image = api.generate_image("a red circle", model="tiny-sd15", steps=2, seed=1, width=64, height=64)
    record = json.loads(Image.open(image.paths[0]).info["AIGC"])
    assert record["Label"] == "1" and record["ContentProducer"] == "某某中学 AI 实验室"
    assert record["ProduceID"] == image.paths[0].name and "Seed: 1" in Image.open(image.paths[0]).info["parameters"]

    video = api.generate_video("a red circle", model="tiny-wan", steps=2, seed=1, num_frames=5, width=32, height=32)
    assert _label(_ffmpeg_comment(video.path))["ProduceID"] == video.path.name
    assert json.loads(video.path.with_suffix(".json").read_text(encoding="utf-8"))["AIGC"]["Label"] == "1"
    assert _label(Image.open(video.gif).info["comment"].decode("utf-8"))["Label"] == "1"

    speech = api.synthesize_speech("你好。", model="espeak")
    assert _label(_ffmpeg_comment(speech.path))["ProduceID"] == speech.path.name
    assert json.loads(speech.path.with_suffix(".json").read_text(encoding="utf-8"))["AIGC"]["Label"] == "1"

    page = api.compose_page([{"title": "t", "paragraphs": ["p"], "images": [image.images[0]]}])
    with zipfile.ZipFile(page.zip_path) as z:
        assert json.loads(z.read("story/parameters.json"))["AIGC"]["Label"] == "1"
        inside = Image.open(z.open("story/images/part1-1.png"))
        assert json.loads(inside.info["AIGC"])["Label"] == "1" and "Seed: 1" in inside.info["parameters"]


def _changed_region(a, b):
    changed = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    return changed.any(), ys.min(initial=10**6), xs.min(initial=10**6)


def test_visible_mark_only_when_the_operator_switches_it_on(studio_env):
    kw = dict(model="tiny-sd15", steps=2, seed=3, width=128, height=128, save=False)
    plain = api.generate_image("a red circle", **kw)
    video_kw = dict(model="tiny-wan", steps=2, seed=1, num_frames=5, width=64, height=64, save=False)
    plain_video = api.generate_video("a red circle", **video_kw)
    studio_env(STUDIO_AI_LABEL="1")
    marked = api.generate_image("a red circle", **kw)
    changed, top, left = _changed_region(plain.images[0], marked.images[0])
    assert changed and top > 100 and left > 64  # only the bottom-right corner of a 128 px image
    assert "Seed: 3" in marked.images[0].info["parameters"]  # the parameters survive the stamp
    marked_video = api.generate_video("a red circle", **video_kw)
    for before, after in zip(plain_video.frames, marked_video.frames):  # every frame, only its corner
        changed, top, left = _changed_region(before, after)
        assert changed and top > 48 and left > 24
