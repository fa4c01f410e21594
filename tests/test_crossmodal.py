"""跨模态创作: the topology project offline (article -> pictures -> zipped page), the series, the storyboard video
(right number of shots, a narration soundtrack), model-written text, alignment scores and bad input."""
from __future__ import annotations

import re
import subprocess
import zipfile
from html.parser import HTMLParser

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from studio import api
from studio.core.errors import StudioError
from studio.crossmodal import slideshow, story
from studio.image import shapes
from tests import tiny_models


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.text, self.h1 = [], [], ""
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_h1 = tag == "h1"

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h1:
            self.h1 += data


def _read_zip(path):
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        page = _Page()
        page.feed(z.read("story/index.html").decode("utf-8"))
        images = {src: Image.open(z.open("story/" + src)) for src in page.images}
    return names, page, images


def test_offline_project_gives_a_zip_whose_page_shows_its_pictures(studio_env):
    project = api.topology_project(images=2, lang="zh")
    article = project.articles[0]
    assert article.method == "rules" and "mini-poem" in project.notices[0]  # labelled as rules, not a model
    assert "咖啡杯" in article.title and len(article.paragraphs) == 5
    assert "费曼技巧" in article.prompt  # what a real model would be sent
    names, page, images = _read_zip(project.page.zip_path)
    assert {"story/index.html", "story/article.txt", "story/parameters.json"} <= names
    assert page.h1 == article.title and len(images) == 2
    for i, (src, image) in enumerate(images.items()):
        assert image.size == (64, 64)
        assert f"Seed: {42 + i}" in image.info["parameters"]  # the picture keeps how it was made
    footer = "".join(page.text)
    assert "Seed: 42" in footer and "Seed: 43" in footer and "AI 生成" in footer
    # the same seed and prompt give the same pictures: the project can be redone step by step
    again = api.story_images("一个大黄色圆形，在中间", "", "蓝色背景", "", "mini-shapes", 42, 2, lang="zh")
    assert [np.asarray(p.image).tolist() for p in again] == [np.asarray(p.image).tolist()
                                                              for p in project.images[0]]
    assert "data:image/png;base64," in project.page.preview_html  # the inline preview needs no files


def test_series_shares_the_style_suffix_and_uses_related_seeds(studio_env):
    result = api.write_series(style="紫色背景", seed=7, seed_step=2, lang="zh")
    assert len(result.articles) == 3 and all(a.method == "rules" for a in result.articles)
    prompts = [p[0].prompt for p in result.images]
    assert all(p.startswith("紫色背景上的") for p in prompts) and len(set(prompts)) == 3  # the model's phrasing
    assert [p[0].seed for p in result.images] == [7, 9, 11]
    names, page, images = _read_zip(result.page.zip_path)
    assert len(images) == 3 and page.h1 == "拓扑学"
    assert "什么是拓扑学？" in "".join(page.text)


def _cuts(frames: np.ndarray) -> int:
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    return int((diffs > 8).sum())


def _audio_streams(path) -> str:
    import imageio_ffmpeg
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                           text=True)
    return "\n".join(line for line in probe.stderr.splitlines() if "Stream" in line)


def _audio(path) -> np.ndarray:
    import imageio_ffmpeg
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
                          "-ar", "16000", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def test_storyboard_video_has_one_picture_per_shot_and_the_narration_as_soundtrack(studio_env):
    article = api.write_article(lang="zh")
    board = api.make_storyboard(article.text, shots=3, lang="zh")
    assert board.method == "rules" and len(board.shots) == 3
    said = "".join(s.narration for s in board.shots)
    assert said.startswith("你有没有想过") and said.endswith("甜甜圈！")  # every sentence, in order, title left out
    assert [shapes.parse_prompt(s.visuals)["size"] for s in board.shots] == ["small", "big", "big"]  # camera moves
    video = api.storyboard_video(board, fps=4, lang="zh")
    frames = iio.imread(video.path, plugin="FFMPEG")  # what a player decodes
    duration = video.times[-1][1]
    assert abs(len(frames) - duration * 4) <= 2 and frames.shape[1:3] == (256, 256)
    assert _cuts(frames) == 2  # three pictures, two cuts
    assert "Audio: aac" in _audio_streams(video.path) and "Video: h264" in _audio_streams(video.path)
    audio = _audio(video.path)
    assert abs(len(audio) / 16000 - duration) < 0.3
    for start, end in video.times:  # each shot has speech in it
        assert np.abs(audio[int(start * 16000):int(end * 16000)]).max() > 0.05
    subtitles = video.subtitles.read_text(encoding="utf-8")
    assert subtitles.count("-->") == 3 and board.shots[2].narration in subtitles


def test_edited_shot_table_is_what_gets_made(studio_env):
    rows = [[1, "一个大红色正方形，在左边", "第一句。", "鼓点"], [None, "", "", ""],
            [9, "一个小白色五角星", "第二句。", ""]]
    video = api.storyboard_video(rows, style="黑色背景", fps=4, lang="zh")
    assert [s.number for s in video.shots] == [1, 2]  # the empty row dropped, numbers redone
    seen = [shapes.analyse(im) for im in video.images]
    assert [a.background for a in seen] == ["black", "black"]  # the shared style suffix reached every shot


def test_model_written_text_is_parsed_and_unreadable_tables_fall_back_to_rules(studio_env):
    article = api.write_article({"topic": "拓扑"}, "tiny-qwen2", seed=3, max_new_tokens=24, lang="zh")
    assert article.method == "tiny-qwen2" and article.seed == 3 and article.paragraphs
    board = api.make_storyboard("拓扑学研究连续变形。咖啡杯和甜甜圈一样。洞的数量不变。", shots=2,
                                text_model="tiny-qwen2", seed=1, lang="zh")
    assert board.method == "rules" and "没能从" in board.notices[0] and len(board.shots) == 2


def test_storyboard_parser_reads_the_formats_models_write():
    table = ("| 镜头序号 | 画面描述 | 旁白 | 背景音乐建议 |\n|---|---|---|---|\n"
             "| 1 | **甜甜圈**特写 | 你见过会变形的甜甜圈吗？ | 电子乐 |\n| 2 | 咖啡杯 | 它变成了杯子。 | 钢琴 |")
    shots = story.parse_storyboard(table)
    assert [s.row() for s in shots] == [[1, "甜甜圈特写", "你见过会变形的甜甜圈吗？", "电子乐"],
                                        [2, "咖啡杯", "它变成了杯子。", "钢琴"]]
    blocks = ("[镜头序号]：1\n[画面描述]：发光的环面\n[旁白]：这是一个环面。\n[背景音乐建议]：轻快\n\n"
              "**[镜头序号]**: 2\n[画面描述]: 变形中的杯子\n[旁白]: 洞还在。\n")
    assert [(s.visuals, s.narration) for s in story.parse_storyboard(blocks)] == [
        ("发光的环面", "这是一个环面。"), ("变形中的杯子", "洞还在。")]
    assert story.parse_storyboard("床前明月光，疑是地上霜。") == []
    parsed = story.parse_article("标题：甜甜圈的魔法\n\n**第一段**\n\n- 第二段", "x")
    assert (parsed.title, parsed.paragraphs) == ("甜甜圈的魔法", ["第一段", "第二段"])


def test_alignment_scores(studio_env, models_dir):
    spec = shapes.Spec("star", "red", "blue", "big", "left")
    image = shapes.render(spec)
    right, wrong = api.alignment_score([image, image], ["蓝色背景上的一个大红色五角星，在左边", "一个绿色圆形"])
    assert right.method == "shapes" and right.score == 1.0
    assert wrong.score == 0.0 and wrong.detail == {"colour": ("green", "red"), "shape": ("circle", "star")}
    assert api.alignment_score(image, "a red star", "tiny-sd15")[0].method == "none"  # no CLIP on disk: no score
    tiny_models.build_clip(models_dir / "clip-vit-b32")
    scores = api.alignment_score([image, image], ["a red star", "a green circle"], "tiny-sd15")
    from transformers import CLIPModel, CLIPProcessor
    model = CLIPModel.from_pretrained(models_dir / "clip-vit-b32")
    processor = CLIPProcessor.from_pretrained(models_dir / "clip-vit-b32")
    inputs = processor(text=["a red star", "a green circle"], images=[image, image], return_tensors="pt", padding=True)
    import torch
    with torch.no_grad():
        # transformers 5: get_*_features return the tower's output with the projected embedding as pooler_output
        img = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
        txt = model.get_text_features(input_ids=inputs["input_ids"],
                                      attention_mask=inputs["attention_mask"]).pooler_output
        img, txt = torch.nn.functional.normalize(img, dim=-1), torch.nn.functional.normalize(txt, dim=-1)
    expected = [max(0.0, 100 * float(x)) for x in (img * txt).sum(-1)]
    assert [s.method for s in scores] == ["clip", "clip"]
    assert [s.score for s in scores] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("call, key", [
    (lambda: api.make_storyboard("   "), "story_empty"),
    (lambda: api.make_storyboard("一句话。两句话。", shots=9), "out_of_range"),
    (lambda: api.storyboard_video([[1, "", "", ""]]), "story_no_shots"),
    (lambda: api.storyboard_video([[1, "圆形", "你好。", ""]], speech_model="mini-shapes"), "wrong_task"),
    (lambda: api.write_article(["topic"]), "bad_story_fields"),
    (lambda: api.story_images("", "", ""), "empty_prompt"),
    (lambda: api.story_images("圆形", count=5), "out_of_range"),
    (lambda: api.alignment_score([Image.new("RGB", (8, 8))], ["a", "b"]), "story_counts"),
    (lambda: api.compose_page([{"title": " ", "paragraphs": []}]), "story_empty"),
    (lambda: api.write_series(rows=[["a", "b", "c", "d"]] * 7), "out_of_range"),
])
def test_bad_input_gets_a_message(studio_env, call, key):
    with pytest.raises(StudioError) as err:
        call()
    assert err.value.key == key and err.value.message("zh") and err.value.message("en")


def test_stop_before_the_video_is_written(studio_env):
    import threading
    stop = threading.Event()
    stop.set()
    with pytest.raises(StudioError) as err:
        api.storyboard_video([[1, "圆形", "你好。", ""]], stop=stop)
    assert err.value.key == "story_stopped"


def test_srt_times():
    text = slideshow.srt(["一", "二"], [(0.0, 2.5), (2.5, 61.25)])
    assert re.findall(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", text) == [
        "00:00:00,000 --> 00:00:02,500", "00:00:02,500 --> 00:01:01,250"]
