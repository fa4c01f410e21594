"""The one error type a user can cause. It carries a message key, so it reads in either language."""
from __future__ import annotations

from studio.core.i18n import t


class StudioError(Exception):
    """An error caused by input or environment, with a message in zh and en.

    The UI shows `message(lang)` with gr.Error; Python callers see the default language in str().
    """

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        super().__init__(self.message())

    def message(self, lang: str | None = None) -> str:
        if lang is None:
            from studio.core.config import settings
            lang = settings().lang
        return t(self.key, lang, **self.params)
