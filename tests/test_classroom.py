"""Duties of a shared classroom server: the prompt blocklist, outputs retention, stale partial files, login pairs."""
from __future__ import annotations

import os
import time

import pytest

import app
from studio import api
from studio.core import retention
from studio.core.errors import StudioError


def test_blocklist_refuses_listed_phrases_but_not_in_negative_prompts(studio_env, tmp_path):
    words = tmp_path / "blocklist.txt"
    words.write_text("# 课堂屏蔽词\n暴力\nGore\n", encoding="utf-8")
    studio_env(STUDIO_BLOCKLIST=str(words))
    with pytest.raises(StudioError) as err:
        api.generate_image("一个很暴力的场景", model="tiny-sd15", steps=1, save=False)
    assert err.value.key == "blocked_prompt" and "暴力" in err.value.message("zh")
    with pytest.raises(StudioError):
        api.generate_text("ＧＯＲＥ everywhere", "tiny-qwen2", max_new_tokens=2)  # full-width and case folded
    with pytest.raises(StudioError):
        api.synthesize_speech("暴力。")
    ok = api.generate_image("a calm lake", "gore, blurry", model="tiny-sd15", steps=1, seed=1, save=False)
    assert ok.images  # a negative prompt names what to avoid: not blocked
    words.write_text("lake\n", encoding="utf-8")
    os.utime(words, (time.time() + 5, time.time() + 5))  # an edited list is read again
    with pytest.raises(StudioError):
        api.generate_image("a calm lake", model="tiny-sd15", steps=1, save=False)
    studio_env(STUDIO_BLOCKLIST=str(tmp_path / "missing.txt"))
    with pytest.raises(StudioError) as err:
        api.generate_image("a", model="tiny-sd15", steps=1, save=False)
    assert err.value.key == "blocklist_unreadable"


def _file(path, size: int, age_s: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_retention_deletes_old_files_and_the_oldest_over_quota_but_never_fresh_ones(tmp_path):
    day = 86400
    old = _file(tmp_path / "images/a.png", 1000, 10 * day)
    mid = _file(tmp_path / "images/b.png", 600_000, 2 * day)
    newer = _file(tmp_path / "videos/c.mp4", 600_000, 1 * day)
    fresh = _file(tmp_path / "videos/d.mp4", 900_000, 60)  # a minute old: maybe being downloaded
    lora = _file(tmp_path / "lora/mine/pytorch_lora_weights.safetensors", 500_000, 30 * day)
    index = _file(tmp_path / "history/abc.jsonl", 100, 30 * day)
    assert retention.sweep(tmp_path, max_age_days=7, quota_mb=0) == [old]
    removed = retention.sweep(tmp_path, max_age_days=0, quota_mb=1.5)  # 2.1 MB left: drop the oldest first
    assert removed == [mid] and newer.exists() and fresh.exists() and lora.exists() and index.exists()
    assert retention.sweep(tmp_path, max_age_days=0, quota_mb=0.1) == [newer]  # fresh stays even over quota
    assert fresh.exists()


def test_partial_files_of_a_killed_process_are_removed_at_start(tmp_path):
    stale = _file(tmp_path / "images/.tmp-abc.png", 10, 7200)
    live = _file(tmp_path / "images/.tmp-def.png", 10, 5)
    assert retention.remove_partial(tmp_path) == 1 and not stale.exists() and live.exists()


def test_login_pairs():
    from studio.core import accounts
    assert accounts.parse_pairs(["teacher:a:b", "class:pw"]) == {"teacher": "a:b", "class": "pw"}
    with pytest.raises(SystemExit):
        accounts.parse_pairs(["nopassword"])


def test_classroom_switch_is_on_the_page(studio_env):
    demo = app.build_demo()
    labels = [getattr(b, "label", None) for b in demo.blocks.values()]
    assert "课堂模式（大字号，适合投影）" in labels
    assert ".classroom" in app.CLASSROOM_CSS
