"""eSpeak NG and ChatTTS (named in studio.core.loaders.LOADERS)."""
from __future__ import annotations

import torch

from studio.core.errors import StudioError
from studio.core.specs import ModelSpec


def load_espeak(spec: ModelSpec, device: str):
    from studio.speech.espeak import Espeak
    return Espeak(spec.path)


def load_chattts(spec: ModelSpec, device: str):
    """ChatTTS from its downloaded folder: source="custom" (the default "local" runs a downloader) and an
    explicit device (its own pick falls back to the CPU below ~2 GB of free GPU memory)."""
    import ChatTTS

    from studio.speech import chattts_files
    absent = chattts_files.missing(spec.path)
    if absent:
        raise StudioError("load_failed", model=spec.title, reason="missing " + ", ".join(absent))
    chat = ChatTTS.Chat()
    chat.published = chattts_files.accept_folder(chat, spec.path)
    if not chat.load(source="custom", custom_path=str(spec.path), device=torch.device(device), compile=False):
        raise StudioError("load_failed", model=spec.title, reason="ChatTTS.Chat.load returned False")
    return chat
