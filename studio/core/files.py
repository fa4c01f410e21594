"""Whose files are whose: the maker of every output, who may open it, LoRAs that are a learner's own until the
operator shares them, and server paths kept out of messages.

- Who is asking: `current()`. The page layer (tabs.files) tells it the login name and browser of the request
  being served; called from Python (no request) it is `LOCAL`, the local operator, who may open everything.
- Every file written into the outputs folder (studio.core.outputs) is recorded with its maker: one JSON line in
  <output dir>/history/owners.jsonl (kept by retention, never served). The maker and the operator may open it
  (`may_open`); a file without a record (made before this index, or by hand) is the operator's.
- Learners are told apart by login name when each has an account; with one shared learner account, a login in
  STUDIO_SHARED_LOGINS, or no login, by browser (a cookie the page layer sets), so one learner never opens a
  classmate's files.
- LoRAs: those in <model dir>/lora/ are built in (everyone's); one trained into <output dir>/lora/<name>/ is its
  maker's (owner.json beside the weights) until the operator shares it (`share_lora`).
- `scrub(text)`: messages name folders relative to the studio's roots ("outputs/lora"), never a server path.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from studio.core.config import settings


INDEX = "owners.jsonl"  # under <output dir>/history/
LORA_OWNER = "owner.json"  # in a trained LoRA's folder


@dataclass(frozen=True)
class Who:
    """The one asking (or making): login name, browser, and whether they are the operator."""
    user: str | None = None
    browser: str | None = None
    operator: bool = True


LOCAL = Who()  # Python API users: whoever runs Python on the server is its operator
NOBODY = Who(operator=False)  # a learner with no files: sees built-in and shared LoRAs only

_maker: contextvars.ContextVar[Who | None] = contextvars.ContextVar("studio_maker", default=None)
_provider: Callable[[], Who | None] | None = None
_lock = threading.RLock()
_index: dict[str, object] = {"root": None, "owners": {}, "names": {}}


# -- who is asking ------------------------------------------------------------------------------------------
def set_provider(provider: Callable[[], Who | None] | None) -> None:
    """The page layer's way of telling who the request being served is from (None outside a request)."""
    global _provider
    _provider = provider


def current() -> Who:
    who = _maker.get()
    if who is None and _provider is not None:
        who = _provider()
    return who or LOCAL


@contextlib.contextmanager
def acting_as(who: Who):
    """Make and open files as `who` inside the block (tests, and callers that know the requester)."""
    token = _maker.set(who)
    try:
        yield who
    finally:
        _maker.reset(token)


def _learner_accounts() -> set[str]:
    from studio.core import accounts
    s = settings()
    cached = _index.get("accounts")
    if cached and cached[0] is s:
        return cached[1]
    try:
        users = set(accounts.logins()) - set(s.operators)
    except SystemExit:  # a broken accounts file: the start refuses it anyway
        users = set()
    _index["accounts"] = (s, users)
    return users


def personal(user: str | None) -> bool:
    """A login used by one learner: more than one learner account exists and the operator has not listed it in
    STUDIO_SHARED_LOGINS (one account for a class or a group, e.g. `class`, is told apart by browser only)."""
    return bool(user) and user not in settings().shared_logins and len(_learner_accounts()) > 1


def _same_maker(owner: Who, who: Who) -> bool:
    if owner.user != who.user:
        return False
    if personal(who.user):
        return True
    return owner.browser is not None and owner.browser == who.browser


# -- the outputs index ------------------------------------------------------------------------------------
def root() -> Path:
    return Path(settings().output_dir).expanduser().resolve()


def _rel(path) -> str | None:
    try:
        return Path(os.path.abspath(path)).resolve().relative_to(root()).as_posix()
    except (ValueError, OSError, TypeError):
        return None


def _load() -> None:
    """The index of the current outputs folder (re-read when the folder changes, e.g. between tests)."""
    folder = root()
    if _index["root"] == folder:
        return
    owners: dict[str, Who] = {}
    names: dict[str, set[str]] = {}
    path = folder / "history" / INDEX
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                _remember(owners, names, row["path"], Who(row.get("user"), row.get("browser"), False))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash loses one record; that file becomes the operator's
    _index.update(root=folder, owners=owners, names=names)


def _remember(owners: dict, names: dict, rel: str, owner: Who) -> None:
    owners[rel] = owner
    if not rel.startswith("lora/"):  # outputs have unique generated names; a LoRA folder's files do not
        names.setdefault(rel.rsplit("/", 1)[-1], set()).add(rel)


def record(path, who: Who | None = None) -> None:
    """`path` (in the outputs folder) was just made by `who` (default: whoever is asking now)."""
    rel = _rel(path)
    if rel is None:
        return
    who = who or current()
    owner = Who(who.user, who.browser, False)
    with _lock:
        _load()
        _remember(_index["owners"], _index["names"], rel, owner)
        folder = root() / "history"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / INDEX).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"path": rel, "user": owner.user, "browser": owner.browser, "time": time.time()},
                               ensure_ascii=False) + "\n")


def owner_of(path) -> Who | None:
    rel = _rel(path)
    if rel is None:
        return None
    with _lock:
        _load()
        return _index["owners"].get(rel)


def in_outputs(path) -> bool:
    return _rel(path) is not None


def may_open(path, who: Who | None = None) -> bool:
    """May `who` open this file of the outputs folder? The maker and the operator may."""
    who = who or current()
    if who.operator:
        return True
    owner = owner_of(path)
    return owner is not None and _same_maker(owner, who)


def may_open_named(name: str, who: Who | None = None) -> bool | None:
    """For a copy of an output elsewhere (Gradio's cache keeps the file's name): may `who` open it? None when no
    output has this name (not a copy of an output: an upload, a preview)."""
    who = who or current()
    with _lock:
        _load()
        rels = list(_index["names"].get(name, ()))
        owners = [_index["owners"][r] for r in rels]
    if not rels:
        return None
    return who.operator or any(_same_maker(owner, who) for owner in owners)


# -- LoRAs ------------------------------------------------------------------------------------------------
def lora_root() -> Path:
    return root() / "lora"


def claim_lora(folder: Path, who: Who | None = None) -> None:
    """A LoRA folder just trained by `who` (default: whoever is asking) is theirs, not shared."""
    who = who or current()
    _write_lora_owner(folder, {"user": who.user, "browser": who.browser, "shared": False})


def _read_lora_owner(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / LORA_OWNER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _write_lora_owner(folder: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    os.replace(tmp, folder / LORA_OWNER)


def lora_info(weights: Path) -> dict:
    """{"builtin", "shared", "mine"-able owner} of a LoRA by its weights file."""
    weights = Path(weights).resolve()
    if not weights.is_relative_to(lora_root()):
        return {"builtin": True, "shared": True, "owner": None}
    entry = weights.parent if weights.parent != lora_root() else weights
    data = _read_lora_owner(entry) if entry.is_dir() else None
    owner = Who(data.get("user"), data.get("browser"), False) if data else None  # none: the operator's
    return {"builtin": False, "shared": bool(data and data.get("shared")), "owner": owner}


def may_use_lora(weights: Path, who: Who | None = None) -> bool:
    """Built-in LoRAs and shared ones: everyone; a trained one: its maker and the operator."""
    who = who or current()
    info = lora_info(weights)
    if who.operator or info["builtin"] or info["shared"]:
        return True
    return info["owner"] is not None and _same_maker(info["owner"], who)


def share_lora(name: str, shared: bool = True) -> bool:
    """The operator shares a trained LoRA with everyone (or takes it back); False when no trained LoRA has that
    name. Not role-checked: the page checks the operator before calling it."""
    folder = lora_root() / name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name or "") or not folder.is_dir():
        return False
    data = _read_lora_owner(folder) or {"user": None, "browser": None}
    _write_lora_owner(folder, {**data, "shared": bool(shared)})
    return True


# -- paths in messages ------------------------------------------------------------------------------------
def shown(folder) -> str:
    """A folder as messages name it: relative to the outputs folder or a model folder, never the server path."""
    from studio.core import hub
    path = Path(folder).expanduser().resolve()
    for base, label in [(root(), "outputs"), *((Path(d).expanduser().resolve(), "models") for d in hub.model_dirs())]:
        if path.is_relative_to(base):
            rel = path.relative_to(base).as_posix()
            return label if rel == "." else f"{label}/{rel}"
    return path.name or "?"


def scrub(text: str) -> str:
    """`text` with the server's folders (outputs, models, temp, the working and home folders) replaced by short
    names, so no message shows a server path."""
    if not text:
        return text
    from studio.core import hub
    roots = [(str(root()), "outputs"), (str(Path(settings().output_dir).expanduser().absolute()), "outputs")]
    for d in hub.model_dirs():
        roots += [(str(Path(d).expanduser().resolve()), "models"), (str(Path(d).expanduser().absolute()), "models")]
    roots += [(os.environ.get("GRADIO_TEMP_DIR", ""), "cache"), (tempfile.gettempdir(), "tmp"), (os.getcwd(), "."),
              (str(Path.home()), "~")]
    for prefix, label in sorted(((p.rstrip("/"), lb) for p, lb in roots if p and p != "/"), key=lambda x: -len(x[0])):
        text = text.replace(prefix, label)
    return text
