"""The studio's ASGI middleware in front of Gradio's routes, for a server with login (tabs.server installs it).

Gradio 6 leaves three doors open that a class server must close:
- `POST /gradio_api/cancel` has no login check and trusts any session hash: here a cancel must come from a logged-in
  user who owns that session (the login that joined it to the queue) or from an operator;
- `POST /login` takes any number of wrong passwords: here each (login name, address) is locked for a while after
  STUDIO_LOGIN_ATTEMPTS failures in a row, twice as long after each further one;
- the login page embeds the whole API description (`window.gradio_api_info`): here it is blanked until login.
Everything else passes through untouched (a pure ASGI middleware, so streamed responses stay streamed).
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from studio.api.web import settings

from . import access


MAX_LOCK = 3600.0  # seconds: the longest a login name is locked
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.S)


def _user(scope) -> str | None:
    """The logged-in user of a request, read from Gradio's login cookie as Gradio itself does."""
    app = scope.get("app")
    if app is None or not hasattr(app, "tokens"):
        return None
    cookies = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookies.load(value.decode("latin-1"))
    for name in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
        if name in cookies and app.tokens.get(cookies[name].value):
            return app.tokens[cookies[name].value]
    return None


async def _body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}
    return receive


async def _refuse(send, status: int, zh: str, en: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": f"{zh} / {en}", "error": f"{zh} / {en}"}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())] + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class Owners:
    """Which login joined each session hash to the queue (the newest 20,000 sessions)."""

    def __init__(self, size: int = 20_000):
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def claim(self, session: str, user: str) -> None:
        with self._lock:
            self._owners.setdefault(session, user)
            self._owners.move_to_end(session)
            while len(self._owners) > self._size:
                self._owners.popitem(last=False)

    def owner(self, session: str) -> str | None:
        with self._lock:
            return self._owners.get(session)


class Failures:
    """Wrong passwords per (login name, address): locked after `attempts` in a row, the lock doubling each time."""

    def __init__(self):
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (failures in a row, locked until)
        self._lock = threading.Lock()

    def locked_for(self, key: tuple[str, str], now: float) -> float:
        with self._lock:
            _count, until = self._seen.get(key, (0, 0.0))
        return max(0.0, until - now)

    def failed(self, key: tuple[str, str], now: float) -> None:
        s = settings()
        with self._lock:
            count = self._seen.get(key, (0, 0.0))[0] + 1
            over = count - s.login_attempts
            until = now + min(MAX_LOCK, s.login_lockout * 2 ** over) if over >= 0 else 0.0
            self._seen[key] = (count, until)
            if len(self._seen) > 10_000:  # forget the stale ones (an attack spread over names must not grow memory)
                self._seen = {k: v for k, v in self._seen.items() if v[1] > now}

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._seen.pop(key, None)


class Guard:
    def __init__(self, app):
        self.app = app
        self.owners, self.failures = Owners(), Failures()  # per server: a restarted one starts afresh

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not access.login_on():
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/"), scope["method"]
        if method == "POST" and path.endswith("/login"):
            return await self._login(scope, receive, send)
        if method == "POST" and path.endswith("/gradio_api/queue/join"):
            return await self._join(scope, receive, send)
        if method == "POST" and (path.endswith("/gradio_api/cancel") or "/gradio_api/stream/" in path
                                 or path.endswith("/gradio_api/reset")):
            return await self._cancel(scope, receive, send)
        if method == "GET" and _user(scope) is None:
            return await self._without_api_info(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _login(self, scope, receive, send):
        body = await _body(receive)
        name = (parse_qs(body.decode("utf-8", "replace")).get("username") or [""])[0].strip()
        key = (name, (scope.get("client") or ("?",))[0])
        wait = self.failures.locked_for(key, time.time())
        if wait > 0:
            return await _refuse(send, 429, f"密码错误次数过多，请 {wait:.0f} 秒后再试",
                                 f"Too many wrong passwords: try again in {wait:.0f} s",
                                 [(b"retry-after", str(int(wait) + 1).encode())])
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
        await self.app(scope, _replay(body), watch)
        if status.get("code") == 200:
            self.failures.succeeded(key)
        elif status.get("code") == 400:
            self.failures.failed(key, time.time())

    async def _join(self, scope, receive, send):
        body = await _body(receive)
        user = _user(scope)
        try:
            session = json.loads(body).get("session_hash")
        except (ValueError, AttributeError):
            session = None
        if user and isinstance(session, str):
            owner = self.owners.owner(session)
            if owner is not None and owner != user and user not in settings().operators:
                return await _refuse(send, 403, "这个会话属于另一个账号", "This session belongs to another account")
            self.owners.claim(session, user)
        await self.app(scope, _replay(body), send)

    async def _cancel(self, scope, receive, send):
        body = await _body(receive)
        user = _user(scope)
        if user is None:
            return await _refuse(send, 401, "请先登录", "Please sign in first")
        try:
            session = json.loads(body).get("session_hash") if body else None
        except (ValueError, AttributeError):
            session = None
        owner = self.owners.owner(session) if isinstance(session, str) else None
        if owner is not None and owner != user and user not in settings().operators:
            return await _refuse(send, 403, "只能停止你自己的任务", "You can only stop your own runs")
        await self.app(scope, _replay(body), send)

    async def _without_api_info(self, scope, receive, send):
        """Before login the page is the login form: the API description is blanked out of its HTML."""
        start: dict = {}
        chunks: list[bytes] = []

        async def hold(message):
            if message["type"] == "http.response.start":
                start.update(message)
                if not any(k == b"content-type" and v.startswith(b"text/html") for k, v in message["headers"]):
                    start["pass"] = True
                    await send(message)
                return
            if start.get("pass"):
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                html = _API_INFO.sub(b"window.gradio_api_info = null;</script>", b"".join(chunks))
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                await send({**start, "headers": headers + [(b"content-length", str(len(html)).encode())]})
                await send({"type": "http.response.body", "body": html})
        await self.app(scope, receive, hold)
