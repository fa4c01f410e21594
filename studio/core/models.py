"""Models: what is known, on disk and loaded; load, unload, download and delete."""
from __future__ import annotations

from studio.core import backend, hub
from studio.core.calls import Progress, caller_lang, check_stop, known_card
from studio.core.config import settings
from studio.core.errors import StudioError
from studio.core.manager import manager
from studio.core.registry import CARDS, cards
from studio.core.specs import detect, resolve


# -- models -------------------------------------------------------------------------------------
def list_models(task: str | None = None, lang: str | None = None) -> list[dict]:
    """Every known model: key, task, title, approx size, sources, licence, whether it is on disk / loaded."""
    lang = caller_lang(lang)
    rows = []
    for card in cards(task):
        path = hub.find_local(card)
        licence = card.licence if isinstance(card.licence, str) else card.licence[lang]
        rows.append(dict(key=card.key, task=card.task, title=card.title[lang], approx_bytes=card.approx_bytes,
                         modelscope_id=card.modelscope_id, hf_id=card.hf_id, licence=licence,
                         builtin=card.builtin, on_disk=path is not None, path=str(path) if path else None,
                         disk_bytes=hub.folder_bytes(path) if path and not card.builtin else None,
                         loaded=manager().is_loaded(card.key)))
    return rows


def manager_status() -> dict:
    """What is loaded (device, bytes, load time, last use), the memory budgets and disk usage."""
    status = manager().status()
    status["disk"] = {str(d): hub.folder_bytes(d) for d in hub.model_dirs()}
    status["hub"] = settings().hub
    return status


def needs_download(key) -> bool:
    """A registry model that is neither on disk nor loaded: using it means a download (the operator's job)."""
    card = CARDS.get(key.strip()) if isinstance(key, str) else None
    return card is not None and hub.find_local(card) is None and not manager().is_loaded(card.key)


def _checked(key) -> str:
    """A model key or folder as text; anything else is refused the way an unknown model is."""
    resolve(key)
    return key.strip()


@backend.routed(lambda call: resolve(call["key"]).task)
def load(key: str, progress: Progress | None = None, *, stop=None) -> dict:
    """Load a model now (downloading it first if needed); returns its status row. Setting `stop` (a
    threading.Event) during the load unloads the model again when the load ends, if this call loaded it
    (StudioError "stopped"): a cancelled load keeps no memory (one load call cannot be interrupted midway).
    With a cluster serving the model's family, it loads on the replica Serve routes its requests to."""
    key = _checked(key)
    check_stop(stop)
    was_loaded = manager().is_loaded(key)
    manager().get(key, progress=progress)
    if stop is not None and stop.is_set():
        if not was_loaded:
            try:
                manager().unload(key)
            except StudioError:  # another run uses it meanwhile: it stays for that run
                pass
        check_stop(stop)
    spec_key = resolve(key).key
    return next(row for row in manager().status()["loaded"] if row["key"] == spec_key)


def unload(key: str) -> bool:
    """Drop a model from memory; False when it was not loaded."""
    if not isinstance(key, str):
        resolve(key)  # raises the unknown-model message
    backend.everywhere("unload", key)  # with a cluster: every replica holding it lets it go too
    return manager().unload(key)


def unload_all() -> int:
    """Drop every model not in use; returns how many were dropped."""
    backend.everywhere("unload_all", "")
    return manager().unload_all()


def download(key: str, progress: Progress | None = None) -> str:
    """Download a registry model into the first model folder; returns the folder."""
    card = known_card(key)
    existing = hub.find_local(card)
    folder = str(existing) if existing else str(hub.download(card, progress))
    backend.everywhere("download", key)  # with a cluster: every other machine fetches its own copy
    return folder


def delete(key: str) -> str:
    """Delete a downloaded model's folder (unloading it first)."""
    card = known_card(_checked(key))
    manager().unload(key)
    backend.everywhere("delete", key)
    return str(hub.delete(card))


def local_models(task: str | None = None) -> list[str]:
    """Folders and checkpoint files in the model folders that the studio can load (not registry downloads)."""
    found = []
    for d in hub.model_dirs():
        if not d.is_dir():
            continue
        for entry in sorted(d.iterdir()):
            if entry.name in CARDS or entry.name.startswith("."):
                continue
            try:
                kind, _loader = detect(entry)
            except StudioError:
                continue
            if task is None or kind == task:
                found.append(entry.name)
    return found

