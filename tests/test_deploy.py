"""Deployment files parse and agree with the app: the Space front matter, ms_deploy.json, the GPU extras; and the
ZeroGPU path (spaces.GPU around every model event, resident models)."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import gradio as gr
import yaml

import app
from studio.core import zerogpu
from studio.core.manager import ModelManager
from studio.core.registry import CARDS


ROOT = Path(__file__).resolve().parent.parent


def _front_matter() -> tuple[dict, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def _pin(name: str) -> str:
    line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if x.startswith(name + "=="))
    return line.split("==")[1]


def test_space_front_matter_agrees_with_the_app():
    meta, body = _front_matter()
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == _pin("gradio") == gr.__version__
    assert (ROOT / meta["app_file"]).is_file() and meta["python_version"] == "3.11"
    assert set(meta["models"]) <= {c.hf_id for c in CARDS.values() if c.hf_id}
    assert meta["suggested_hardware"] in {"t4-small", "t4-medium", "l4x1", "a10g-small", "a10g-large", "a100-large"}
    blocks = [b.split("```", 1)[0].strip() for b in body.split("```bash")[1:3]]  # the README's two commands
    assert blocks[0].endswith("python app.py") and blocks[1].endswith("python -m pytest")
    assert body.lstrip().startswith("# AIGC Studio") and blocks[0] in body[:400]  # the commands open the README


def test_modelscope_studio_file_agrees_with_the_app():
    deploy = json.loads((ROOT / "ms_deploy.json").read_text(encoding="utf-8"))
    assert deploy["sdk_type"] == "gradio" and deploy["sdk_version"] == gr.__version__ and deploy["port"] == 7860
    env = {e["key"]: e["value"] for e in deploy["environment_variables"]}
    assert env["STUDIO_HUB"] in ("modelscope", "hf", "local") and env["GRADIO_SERVER_NAME"] == "0.0.0.0"


def test_gpu_extras_extend_the_requirements_without_moving_torch():
    lines = [x.strip() for x in (ROOT / "requirements-gpu.txt").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "-r requirements.txt" and "xformers" in lines and not any(x.startswith("torch") for x in lines)


def test_zerogpu_wraps_every_model_event_and_keeps_models_resident(studio_env, monkeypatch):
    wrapped = []

    def gpu(duration):  # the shape of spaces.GPU: a decorator factory
        def decorate(fn):
            wrapped.append(fn)
            return fn
        return decorate

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    monkeypatch.setattr(zerogpu.importlib.util, "find_spec", lambda name: object() if name == "spaces" else None)
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")
    assert zerogpu.active()
    demo = app.build_demo()
    model_events = [f for f in demo.fns.values() if f.concurrency_id == "gpu"]
    assert zerogpu.wrap_gpu_events(demo, "gpu") == len(model_events) == len(wrapped) > 20
    light = [f for f in demo.fns.values() if f.concurrency_id != "gpu" and f.fn is not None]
    assert light and not any(f.fn in wrapped for f in light)  # PNG info, prompt building, status stay unwrapped

    resident = ModelManager(budgets={"cpu": 1}, resident=True)  # a budget nothing fits: nothing is evicted
    resident.get("tiny-sd15")
    resident.get("tiny-qwen2")
    assert resident.is_loaded("tiny-sd15") and resident.is_loaded("tiny-qwen2")
