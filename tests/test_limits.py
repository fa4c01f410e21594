"""Server limits an operator sets by env var: over a limit, a clear message naming the limit; under it, work goes on."""
from __future__ import annotations

import pytest
from PIL import Image

from studio import api
from studio.core.errors import StudioError


def _refused(call, key: str, *numbers) -> str:
    with pytest.raises(StudioError) as err:
        call()
    message = err.value.message("zh")
    assert err.value.key == key and all(str(n) in message for n in numbers), message
    return message


def test_image_limits(studio_env):
    studio_env(STUDIO_MAX_STEPS=4, STUDIO_MAX_PIXELS=64 * 64, STUDIO_MAX_BATCH=2)
    kw = dict(model="tiny-sd15", seed=1, save=False)
    _refused(lambda: api.generate_image("a", steps=5, width=64, height=64, **kw), "out_of_range", 4)
    _refused(lambda: api.generate_image("a", steps=2, width=64, height=128, **kw), "over_pixel_limit", 4096)
    _refused(lambda: api.generate_image("a", steps=2, width=64, height=64, batch_size=3, **kw), "out_of_range", 2)
    _refused(lambda: api.generate_image("a", steps=2, width=64, height=64, hires_scale=2, **kw), "over_pixel_limit")
    assert len(api.generate_image("a", steps=4, width=64, height=64, batch_size=2, **kw).images) == 2


def test_video_text_speech_and_lora_limits(studio_env):
    studio_env(STUDIO_MAX_FRAMES=9, STUDIO_MAX_TEXT=40, STUDIO_MAX_NEW_TOKENS=5, STUDIO_MAX_LORA_STEPS=3)
    _refused(lambda: api.generate_video("a", model="tiny-wan", steps=2, num_frames=13, width=32, height=32, save=False),
             "video_too_big", "9 帧")  # with the memory it would need
    _refused(lambda: api.synthesize_speech("一" * 41), "prompt_too_long", 40)
    _refused(lambda: api.generate_image("x" * 41, model="tiny-sd15", steps=1, save=False), "prompt_too_long", 40)
    _refused(lambda: api.generate_text("床前", "tiny-qwen2", max_new_tokens=6), "out_of_range", 5)
    images = [Image.new("RGB", (64, 64), c) for c in ("red", "blue", "green", "white", "black")]
    _refused(lambda: api.train_lora(images, "sks", "tiny-sd15", steps=4), "out_of_range", 3)
    assert api.generate_text("床前", "tiny-qwen2", max_new_tokens=5, seed=1).text is not None


def test_uploads_over_the_pixel_limit_and_decompression_bombs_are_refused(studio_env, tmp_path):
    studio_env(STUDIO_MAX_UPLOAD_PIXELS=100 * 100)
    _refused(lambda: api.generate_image("a", model="tiny-sd15", steps=1, init_image=Image.new("RGB", (200, 200)),
                                        save=False), "upload_too_big", 10000)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)  # 144 million pixels in a file of a few kB
    assert bomb.stat().st_size < 100_000
    studio_env()  # the default limit (4096 x 4096): refused from its header, never decoded
    _refused(lambda: api.generate_image("a", model="tiny-sd15", steps=1, init_image=str(bomb), save=False),
             "upload_bomb", 144000000)
