"""The shared model manager: lazy loads, LRU eviction within a budget, leases, failures, status."""
from __future__ import annotations

import threading

import pytest
import torch

from studio.core.device import module_bytes
from studio.core.errors import StudioError
from studio.core.manager import ModelManager, estimate_bytes
from studio.core.specs import resolve
from tests.tiny_models import break_file


def _manager_for_one(*keys) -> ModelManager:
    """A budget in which any one of the models fits, but not two."""
    sizes = [estimate_bytes(resolve(k), "cpu") for k in keys]
    return ModelManager(budgets={"cpu": max(sizes) + min(sizes) // 2}, device="cpu")


def test_loading_b_evicts_a_and_a_reloads(studio_env):
    m = _manager_for_one("tiny-sd15", "tiny-sdxl")
    a = m.get("tiny-sd15")
    assert m.is_loaded("tiny-sd15")
    m.get("tiny-sdxl")
    assert not m.is_loaded("tiny-sd15") and m.is_loaded("tiny-sdxl")
    a_again = m.get("tiny-sd15")
    assert a_again is not a  # a fresh load, not a stale reference
    assert m.load_count[resolve("tiny-sd15").key] == 2
    assert not m.is_loaded("tiny-sdxl")


def test_second_get_of_resident_model_does_not_reload(studio_env):
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    first = m.get("tiny-sd15")
    assert m.get("tiny-sd15") is first
    assert m.load_count[resolve("tiny-sd15").key] == 1


def test_eight_threads_cause_one_load(studio_env):
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    got, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        got.append(m.get("tiny-sdxl"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(obj is got[0] for obj in got)
    assert m.load_count[resolve("tiny-sdxl").key] == 1


def test_leased_model_survives_pressure(studio_env):
    m = _manager_for_one("tiny-sd15", "tiny-sdxl")
    with m.lease("tiny-sd15") as pipe:
        with pytest.raises(StudioError) as err:
            m.get("tiny-sdxl")
        assert err.value.key == "over_budget"
        assert "tiny-sd15" in err.value.message("en")  # names what is in use
        assert m.is_loaded("tiny-sd15")
        assert m.status()["loaded"][0]["in_use"] == 1
        with pytest.raises(StudioError) as busy:
            m.unload("tiny-sd15")
        assert busy.value.key == "in_use"
        assert pipe.unet is not None
    m.get("tiny-sdxl")  # once released, the same request evicts it
    assert not m.is_loaded("tiny-sd15")


def test_corrupt_folder_gives_clear_error_and_others_still_load(studio_env, models_dir):
    broken = models_dir / "broken"
    (models_dir / "tiny-sd15").rename(broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    break_file(weights, weights.read_bytes()[:1000])
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    with pytest.raises(StudioError) as err:
        m.get("broken")
    assert err.value.key == "load_failed"
    assert "broken" in err.value.message("zh") and "加载模型" in err.value.message("zh")
    assert m.status()["loaded"] == [] and m.status()["loading"] == []
    assert m.get("tiny-sdxl") is not None
    with pytest.raises(StudioError):  # asking again gives the same message, not a hang
        m.get("broken")


def test_a_builtin_model_missing_from_assets_says_so(studio_env, tmp_path, monkeypatch):
    """A checkout without a mini model's weights (an LFS-less clone, a deleted folder): a message, not a crash."""
    from studio import api
    from studio.core import registry
    monkeypatch.setattr(registry, "MINI_DIR", tmp_path / "no-assets")
    with pytest.raises(StudioError) as err:
        api.generate_video("x", model="mini-motion", save=False)
    assert err.value.key == "not_built" and "mini-motion" in err.value.message("zh")


def test_status_reports_truth(studio_env):
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    pipe = m.get("tiny-sd15")
    (row,) = m.status()["loaded"]
    assert row["title"] == "tiny-sd15" and row["device"] == "cpu" and row["in_use"] == 0
    assert row["bytes"] == module_bytes(pipe) > 0
    assert m.status()["budgets"]["cpu"] == {"budget": 1024**3, "used": row["bytes"]}
    assert m.unload("tiny-sd15") is True and m.status()["loaded"] == []
    assert m.unload("tiny-sd15") is False


def test_model_larger_than_budget_is_refused_before_loading(studio_env):
    m = ModelManager(budgets={"cpu": 1000}, device="cpu")
    with pytest.raises(StudioError) as err:
        m.get("tiny-sd15")
    assert err.value.key == "over_budget" and "STUDIO_MEMORY_BUDGET" in err.value.message("en")
    assert m.load_count == {}


def test_out_of_memory_during_a_run_frees_others_and_retries_once(studio_env):
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    m.get("tiny-sdxl")
    calls = []

    def flaky(pipe):
        calls.append(pipe)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return "done"

    assert m.run("tiny-sd15", flaky) == "done"
    assert len(calls) == 2 and not m.is_loaded("tiny-sdxl") and m.is_loaded("tiny-sd15")

    def always_oom(pipe):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(StudioError) as err:
        m.run("tiny-sd15", always_oom)
    assert err.value.key == "oom"


def test_unload_all_keeps_models_in_use(studio_env):
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    m.get("tiny-sdxl")
    with m.lease("tiny-sd15"):
        assert m.unload_all() == 1
        assert m.is_loaded("tiny-sd15") and not m.is_loaded("tiny-sdxl")


def test_memory_options_of_a_card_reach_the_pipeline(studio_env, models_dir):
    """sdxl's card asks for VAE slicing; a snapshot under that key is loaded with it on."""
    import shutil
    shutil.copytree(models_dir / "tiny-sdxl", models_dir / "sdxl")
    m = ModelManager(budgets={"cpu": 1024**3}, device="cpu")
    assert m.get("sdxl").vae.use_slicing is True
    assert m.get("tiny-sdxl").vae.use_slicing is False


def test_preload_loads_in_the_background(studio_env):
    import time

    import app
    from studio.core.manager import manager
    app.preload(["tiny-sd15", "no-such-model"])  # a bad key is logged, the good one still loads
    deadline = time.time() + 60
    while not manager().is_loaded("tiny-sd15") and time.time() < deadline:
        time.sleep(0.1)
    assert manager().is_loaded("tiny-sd15")


def test_a_reset_keeps_zerogpus_keep_everything_mode_and_the_operators_budget(studio_env, monkeypatch):
    """reset_manager() (tests, a settings change) builds the manager from the settings, as start-up does: on
    ZeroGPU it still never evicts, and STUDIO_MEMORY_BUDGET is still the budget (parsed once, in config)."""
    from studio.core import zerogpu
    from studio.core.config import parse_bytes
    from studio.core.manager import manager, reset_manager
    monkeypatch.setattr(zerogpu, "active", lambda: True)
    studio_env(STUDIO_MEMORY_BUDGET="800MB")
    fresh = reset_manager()
    assert fresh is manager() and fresh.resident
    assert fresh.budget("cpu") == parse_bytes("800MB")
    monkeypatch.setattr(zerogpu, "active", lambda: False)
    studio_env()
    assert not reset_manager().resident
