"""The studio's ASGI middleware in front of Gradio's routes (filled in below)."""
from __future__ import annotations


class Guard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
