"""The one model manager under all tabs.

- `lease(model)` loads on first use (downloading if needed), and keeps the model from eviction while
  the `with` block runs; `get(model)` loads and returns without holding it.
- Concurrent callers of one key share a single load (the first caller loads, the rest wait for it).
- Each device has a memory budget. Before a load, the model's size is estimated from its weight files;
  least-recently-used models that are not leased are evicted until it fits. If it cannot fit, the load
  is refused with a message: on a CPU the kernel kills the process instead of raising, so this check is
  the only protection. After a load the real footprint is measured and used from then on.
- On CUDA an evicted model can be parked in CPU RAM (STUDIO_PARK_ON_CPU) for a fast return.
- A failed load leaves the manager and the other models as they were.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.core import device as dev
from studio.core import files, hub, loaders
from studio.core.config import Settings, settings
from studio.core.errors import StudioError
from studio.core.i18n import human_bytes
from studio.core.scheduler import claim_device, model_taken, stepping_aside
from studio.core.specs import ModelSpec, resolve


@dataclass
class Entry:
    spec: ModelSpec
    obj: object
    device: str
    bytes: int
    load_seconds: float
    last_used: float = field(default_factory=time.time)
    leases: int = 0
    parked: bool = False  # moved to CPU RAM to make room on the GPU
    # Pipelines keep per-call state on themselves (guidance scale, interrupt flag, scheduler), so
    # one run at a time per resident model; other models run in parallel.
    run_lock: threading.Lock = field(default_factory=threading.Lock)


def estimate_bytes(spec: ModelSpec, device: str) -> int:
    """Memory the model will take once loaded on `device`, from its safetensors headers."""
    itemsize = dev.pick_dtype(device).itemsize
    if spec.path is None:
        approx = spec.card.approx_bytes if spec.card else 0
        return approx * itemsize // 2  # cards give fp16 sizes
    total = 0
    for f in _weight_files(spec.path):
        total += f.stat().st_size * itemsize // max(1, _stored_itemsize(f))
    return total


def _weight_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.rglob("*.safetensors"))
    # A folder may hold the fp32 and fp16 variants side by side; only one of them is loaded.
    names = {f.with_name(f.name.replace(".fp16.", ".")) for f in files if ".fp16." in f.name}
    return [f for f in files if ".fp16." not in f.name or f.with_name(f.name.replace(".fp16.", ".")) not in names]


def _stored_itemsize(path: Path) -> int:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            if not keys:
                return 4
            return 2 if f.get_slice(keys[0]).get_dtype() in ("F16", "BF16") else 4
    except Exception:  # unreadable headers surface when the loader opens the file
        return 4


class ModelManager:
    def __init__(self, budgets: dict[str, int] | None = None, device: str | None = None,
                 load_fn: Callable[[ModelSpec, str], object] = loaders.load, resident: bool = False,
                 budget: int | None = None):
        """`budgets`: bytes per device kind ("cpu", "cuda"); a kind not named gets `budget` (the operator's
        STUDIO_MEMORY_BUDGET) or, when that is None, a share of the memory free on first use."""
        self.device = device or dev.pick_device()
        self.resident = resident  # ZeroGPU: keep every loaded model, never evict (see studio.core.zerogpu)
        self._budgets = dict(budgets or {})
        self._budget = budget
        self._load_fn = load_fn
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._loading: dict[str, Future] = {}
        self._reserved: dict[str, int] = {}  # bytes promised to loads in flight, per device
        self._aliases: dict[str, str] = {}  # what callers typed -> manager key
        self.load_count: dict[str, int] = {}  # how many times each key was loaded (for status and tests)

    # -- budget -----------------------------------------------------------------------------
    def budget(self, device: str) -> int:
        kind = "cuda" if device.startswith("cuda") else "cpu"
        if kind not in self._budgets:
            self._budgets[kind] = self._budget or dev.default_budget(device)
        return self._budgets[kind]

    @classmethod
    def from_settings(cls, s: Settings | None = None) -> "ModelManager":
        """The manager the settings ask for: their memory budget, and ZeroGPU's keep-everything mode."""
        from studio.core import zerogpu
        return cls(budget=(s or settings()).memory_budget, resident=zerogpu.active())

    def used(self, device: str) -> int:
        kind = "cuda" if device.startswith("cuda") else "cpu"
        same = [e.bytes for e in self._entries.values() if e.device.startswith(kind)]
        return sum(same) + self._reserved.get(kind, 0)

    def _make_room(self, need: int, device: str, spec: ModelSpec, keep: str | None = None) -> None:
        """Evict LRU unleased models on `device` until `need` more bytes fit; raise if impossible."""
        if self.resident:
            return
        budget = self.budget(device)
        kind = "cuda" if device.startswith("cuda") else "cpu"
        victims = sorted((e for k, e in self._entries.items()
                          if k != keep and e.device.startswith(kind) and e.leases == 0),
                         key=lambda e: e.last_used)
        evictable = sum(e.bytes for e in victims)
        if self.used(device) - evictable + need > budget:
            busy = [e.spec.title for e in self._entries.values() if e.leases > 0] or ["-"]
            raise StudioError("over_budget", model=spec.title, need=human_bytes(need),
                              budget=human_bytes(budget), busy=", ".join(busy))
        for victim in victims:
            if self.used(device) + need <= budget:
                break
            self._evict(victim)
        dev.release_cached_memory()

    def _evict(self, entry: Entry) -> None:
        key = entry.spec.key
        movable = hasattr(entry.obj, "to")  # engines such as ChatTTS or eSpeak are dropped, not parked
        if entry.device.startswith("cuda") and settings().park_on_cpu and not entry.parked and movable:
            try:
                self._make_room(entry.bytes, "cpu", entry.spec, keep=key)
                with dev.quiet_diffusers():
                    entry.obj.to("cpu")
                entry.device, entry.parked = "cpu", True
                return
            except StudioError:
                pass  # no room in RAM either: drop it
        del self._entries[key]

    # -- loading ----------------------------------------------------------------------------
    def _acquire(self, model: str, lease: bool, progress: hub.Progress | None) -> Entry:
        if not isinstance(model, str):
            resolve(model)  # raises the unknown-model message
        with self._lock:  # fast path: a resident model needs no look at the disk
            entry = self._entries.get(self._aliases.get(model, model))
            if entry is not None and not entry.parked:
                entry.last_used = time.time()
                entry.leases += int(lease)
                return entry
        spec = resolve(model)
        self._aliases[model] = spec.key
        while True:
            with self._lock:
                entry = self._entries.get(spec.key)
                if entry is not None and not entry.parked:
                    entry.last_used = time.time()
                    entry.leases += int(lease)
                    return entry
                pending = self._loading.get(spec.key)
                if pending is None:
                    pending = self._loading[spec.key] = Future()
                    break
            failure = pending.exception()  # waits for the other caller's load
            if failure is not None:
                raise failure
        try:
            entry = self._load(spec, progress)
            with self._lock:
                entry.leases += int(lease)
            pending.set_result(entry)
            return entry
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._loading.pop(spec.key, None)

    def _load(self, spec: ModelSpec, progress: hub.Progress | None) -> Entry:
        if spec.path is None:
            if spec.card.builtin:
                raise StudioError("not_built", model=spec.card.key)
            if not files.current().operator:  # downloads are the teacher's: gigabytes of a class's disk and network
                raise StudioError("download_is_operators", model=spec.card.key)
            spec = ModelSpec(spec.key, spec.task, spec.loader, spec.card, hub.download(spec.card, progress),
                             spec.options)
        if spec.loader not in loaders.LOADERS:
            raise StudioError("no_loader", model=spec.title, task=spec.task)
        with self._lock:
            parked = self._entries.get(spec.key)
            if parked is not None:  # a parked model returns from CPU RAM
                return self._unpark(parked)
            need = estimate_bytes(spec, self.device)
            self._make_room(need, self.device, spec)
            kind = "cuda" if self.device.startswith("cuda") else "cpu"
            self._reserved[kind] = self._reserved.get(kind, 0) + need
        try:
            started = time.perf_counter()
            obj = self._load_with_oom_retry(spec)
            seconds = time.perf_counter() - started
        except StudioError:
            raise
        except Exception as exc:  # missing or corrupt files: one clear message, the rest keeps working
            raise StudioError("load_failed", model=spec.title, reason=f"{type(exc).__name__}: {exc}") from exc
        finally:
            with self._lock:
                self._reserved[kind] -= need
        with self._lock:
            entry = Entry(spec, obj, self.device, dev.module_bytes(obj) or need, seconds)
            self._entries[spec.key] = entry
            self.load_count[spec.key] = self.load_count.get(spec.key, 0) + 1
            if self.used(self.device) > self.budget(self.device):  # measured more than estimated
                try:
                    self._make_room(0, self.device, spec, keep=spec.key)
                except StudioError:
                    pass  # what remains is in use; the new model stays, the budget is over until released
        return entry

    def _unpark(self, entry: Entry) -> Entry:
        self._make_room(entry.bytes, self.device, entry.spec, keep=entry.spec.key)
        entry.obj.to(self.device)
        entry.device, entry.parked, entry.last_used = self.device, False, time.time()
        return entry

    def _load_with_oom_retry(self, spec: ModelSpec):
        try:
            return self._load_fn(spec, self.device)
        except Exception as exc:
            if not dev.is_oom(exc):
                raise
        # Out of GPU memory: free everything not in use, then try once more with CPU offload.
        self._free_for(spec.key)
        spec = ModelSpec(spec.key, spec.task, spec.loader, spec.card, spec.path, {**spec.options, "cpu_offload": True})
        try:
            return self._load_fn(spec, self.device)
        except Exception as exc:
            if dev.is_oom(exc):
                raise StudioError("oom", model=spec.title) from exc
            raise

    def _free_for(self, key: str) -> None:
        with self._lock:
            for k, e in list(self._entries.items()):
                if k != key and e.leases == 0:
                    del self._entries[k]
        dev.release_cached_memory()

    # -- public -----------------------------------------------------------------------------
    def get(self, model: str, progress: hub.Progress | None = None):
        """The resident object for `model`, loading it first if needed (not protected from eviction)."""
        claim_device()
        return self._acquire(model, lease=False, progress=progress).obj

    @contextmanager
    def lease(self, model: str, progress: hub.Progress | None = None, exclusive: bool = False):
        """`with manager.lease(key) as pipe:` the model cannot be evicted inside the block.

        exclusive=True also waits for other exclusive users of the same model (one run at a time).
        """
        claim_device()  # a page job that takes the device per unit has its turn first
        entry = self._acquire(model, lease=True, progress=progress)
        try:
            if exclusive:
                _take(entry.run_lock)
                model_taken(model, True)  # the scheduler gives no turn to a job that would wait for this lock
                try:
                    yield entry.obj
                finally:
                    model_taken(model, False)
                    entry.run_lock.release()
            else:
                yield entry.obj
        finally:
            with self._lock:
                entry.leases -= 1
                entry.last_used = time.time()

    def run(self, model: str, fn: Callable[[object], object], progress: hub.Progress | None = None):
        """fn(resident object), exclusively and under a lease; on CUDA out-of-memory, free the others,
        enable CPU offload and retry once."""
        with self.lease(model, progress, exclusive=True) as obj:
            try:
                return fn(obj)
            except Exception as exc:
                if not dev.is_oom(exc):
                    raise
            key = resolve(model).key
            self._free_for(key)
            if hasattr(obj, "enable_model_cpu_offload") and self.device.startswith("cuda"):
                obj.enable_model_cpu_offload(device=self.device)
            try:
                return fn(obj)
            except Exception as exc:
                if dev.is_oom(exc):
                    raise StudioError("oom", model=resolve(model).title) from exc
                raise

    def is_loaded(self, model: str) -> bool:
        with self._lock:
            return resolve(model).key in self._entries

    def unload(self, model: str) -> bool:
        key = resolve(model).key
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            if entry.leases:
                raise StudioError("in_use", model=entry.spec.title)
            del self._entries[key]
        dev.release_cached_memory()
        return True

    def unload_all(self) -> int:
        with self._lock:
            idle = [k for k, e in self._entries.items() if e.leases == 0]
            for k in idle:
                del self._entries[k]
        dev.release_cached_memory()
        return len(idle)

    def status(self) -> dict:
        with self._lock:
            loaded = [dict(key=e.spec.key, title=e.spec.title, task=e.spec.task, device=e.device,
                           bytes=e.bytes, load_seconds=round(e.load_seconds, 3), last_used=e.last_used,
                           in_use=e.leases, parked=e.parked, loads=self.load_count.get(e.spec.key, 0))
                      for e in sorted(self._entries.values(), key=lambda e: -e.last_used)]
            budgets = {kind: dict(budget=self.budget(kind), used=self.used(kind))
                       for kind in sorted({"cpu", "cuda" if self.device.startswith("cuda") else "cpu"})}
            loading = sorted(self._loading)
        return dict(device=self.device, loaded=loaded, loading=loading, budgets=budgets)


_manager: ModelManager | None = None
def _take(run_lock: threading.Lock) -> None:
    """A model's one-run lock; while another job holds it, this job's device turn goes to whoever waits."""
    if run_lock.acquire(blocking=False):
        return
    taken = False
    try:
        with stepping_aside():
            taken = run_lock.acquire()
    except BaseException:
        if taken:  # stopped while it waited for its turn again: the run does not start
            run_lock.release()
        raise


_manager_lock = threading.Lock()


def manager() -> ModelManager:
    """The process-wide manager, created on first use with the current settings."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = ModelManager.from_settings()
        return _manager


def reset_manager(new: ModelManager | None = None) -> ModelManager:
    """Replace the process-wide manager (tests, or after the settings changed): `new`, else one built from the
    current settings (so ZeroGPU's keep-everything mode and the operator's budget survive a reset)."""
    global _manager
    with _manager_lock:
        _manager = new or ModelManager.from_settings()
        return _manager
