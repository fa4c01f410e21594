"""Shared fixtures: tiny real-class models built once per run, settings pointed at temp folders."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent  # on sys.path through pytest.ini's `pythonpath = .`
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# OpenMP's idle threads sleep instead of spinning (tests, and the scripts and servers they start, which inherit it):
# on a 2-core runner that anything else also uses, torch's second thread otherwise spin-waits for the busy core at
# every op of these tiny models (beside one busy core: the melody-variant test 8.4 s spinning, 3.3 s passive;
# beside a torch training, 54 s spinning, 2.9 s with one thread), while a quiet runner keeps both threads for the
# training smokes (mini-shapes' 64 s with two threads, 85 s with one). Set before torch is imported; yours wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# pytest-xdist (pytest.ini runs one worker per core, at most 4): each worker's torch gets its share of the cores, so
# the workers do not fight over them (thread count changes a float's last bit, so a test and the scripts it starts
# inherit the same value).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _share)))

from studio.core import config  # noqa: E402
from studio.core.manager import ModelManager, reset_manager  # noqa: E402
from studio.core.scheduler import reset_scheduler  # noqa: E402
from tests import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A model folder holding tiny-sd15, tiny-sdxl, tiny-qwen2 and tiny-wan."""
    root = tmp_path_factory.mktemp("models")
    tiny_models.build_all(root)
    before = tiny_models.fingerprint(root)
    yield root
    # Per-test folders hard-link these files: a test writing into one in place would change them all.
    assert tiny_models.fingerprint(root) == before, "a test modified a shared tiny model file in place"


@pytest.fixture
def models_dir(tiny_root, tmp_path) -> Path:
    """A fresh model folder per test, so tests may add, rename or remove files.

    Files are hard links to the session's tiny models (a full copy per test filled CI's disk: 42 MB x 400
    tests); a test that breaks a file must replace it (`break_file`), never write into it in place."""
    folder = tmp_path / "models"
    shutil.copytree(tiny_root, folder, copy_function=os.link)
    return folder



def beside(script_dir: Path, *sources: Path) -> None:
    """What a 查看代码 script's comments ask a learner to do before running it: copy the model folder (or LoRA,
    or a checkout's assets/ for a built-in model) beside the script. Linked here, under the same names."""
    for source in sources:
        (script_dir / source.name).symlink_to(source, target_is_directory=source.is_dir())


@pytest.fixture
def studio_env(models_dir, tmp_path, monkeypatch):
    """Settings for one test: temp model and output folders, no downloads; returns a configure function."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    base = {"STUDIO_MODEL_DIRS": str(models_dir), "STUDIO_OUTPUT_DIR": str(tmp_path / "outputs"),
            "STUDIO_HUB": "local", "STUDIO_HUB_TIMEOUT": "2"}

    def configure(**overrides):
        env = {**base, **{k: str(v) for k, v in overrides.items()}}
        values = config.configure([], env=env)
        reset_scheduler()  # a fresh line with these settings' turns and limits
        return values

    configure()
    reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}))
    yield configure
    config.configure([], env={})
    reset_scheduler()
    reset_manager(ModelManager(budgets={"cpu": 4 * 1024**3}))


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Training scripts set torch's thread count; the float reduction order (and so the last bit of a
    pixel) depends on it, so every test starts and ends with the default."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def client(studio_env):
    """A gradio_client Client on the studio served as app.py serves it (tests/serving.py: the one launch)."""
    from gradio_client import Client

    from tests.serving import served
    with served() as (url, _demo):
        yield Client(url, verbose=False)
