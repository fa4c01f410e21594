"""The README's first code examples run as written: `from studio import api` and the same call through gradio_client,
against the tiny SD 1.5 of tests/tiny_models.py standing in for the downloaded `sd15` (same classes, same folder
layout). Three values are replaced, each checked to be there: the server's address (the test server's), 512x512 by
64x64 and 25 steps by 2 (the tiny model at 512 takes ~20 s a step on a CPU: 8 minutes per example)."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tests.serving import served


README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _smaller(block: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in block, f"the README's example no longer has {old!r}"
        block = block.replace(old, new)
    return block


def _as_sd15(models_dir: Path) -> None:
    """The tiny SD 1.5 where a downloaded sd15 would be (models/sd15)."""
    (models_dir / "sd15").symlink_to(models_dir / "tiny-sd15", target_is_directory=True)


def test_the_readmes_api_example_runs(studio_env, models_dir, tmp_path, monkeypatch):
    _as_sd15(models_dir)
    monkeypatch.chdir(tmp_path)
    block = _smaller(_python_blocks()[0], ("steps=25", "steps=2"), ("width=512, height=512", "width=64, height=64"))
    assert "api.generate_image(" in block and 'model="sd15"' in block
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert Image.open(tmp_path / "circle.png").size == (64, 64)
    assert "Seed: 42" in Image.open(scope["png"]).info["parameters"] and scope["result"].seeds == [42]


def test_the_readmes_gradio_client_example_runs(studio_env, models_dir):
    _as_sd15(models_dir)
    block = next(b for b in _python_blocks() if "gradio_client" in b)
    with served() as (url, _demo):
        scope: dict = {}
        block = _smaller(block, ("http://127.0.0.1:7860", url), ("25, 7, 42, 512, 512", "2, 7, 42, 64, 64"))
        exec(compile(block, "README.md", "exec"), scope)
    assert scope["seeds"] == "42" and "Seed: 42" in scope["infotext"]
    assert len(scope["gallery"]) == 1
