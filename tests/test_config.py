"""One settings table: flags over env vars over defaults, and the README lists every row."""
from pathlib import Path

from studio.core import config


def test_flag_beats_env_beats_default():
    s = config.configure(["--port", "9000", "--share"], env={"GRADIO_SERVER_PORT": "8000", "STUDIO_LANG": "en"})
    assert s.port == 9000 and s.share is True and s.lang == "en"
    s = config.configure([], env={"GRADIO_SERVER_PORT": "8000"})
    assert s.port == 8000 and s.share is False and s.lang == "zh" and s.hub == "modelscope"
    s = config.configure(["--preload", "sd15,qwen2.5-0.5b"], env={})
    assert s.preload == ["sd15", "qwen2.5-0.5b"]
    config.configure([], env={})


def test_space_defaults_to_the_hf_hub_and_bad_language_falls_back():
    assert config.configure([], env={"SPACE_ID": "someone/studio"}).hub == "hf"
    assert config.configure([], env={"STUDIO_LANG": "fr"}).lang == "zh"
    config.configure([], env={})


def test_readme_lists_every_setting():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for setting in config.SETTINGS:
        assert f"`{setting.env}`" in readme, setting.env
    assert config.markdown_table() in readme
