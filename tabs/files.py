"""Each learner's files are their own (issue 35): the page side of studio.core.files.

- Who is asking: the login name (Gradio's login cookie) and the browser, told apart by a random cookie
  (`aigc_browser`, HttpOnly) that `Files` gives every browser and gradio_client Client on its first request (a
  Client keeps the cookies of its /config answer). Handlers, and the worker threads they start, learn it from
  Gradio's request context (`who`), so every file a run saves is recorded with its maker (studio.core.outputs).
- `Files` (pure ASGI middleware, installed by tabs.server) is the route check: Gradio serves a run's files as
  copies in its cache (`/gradio_api/file=<cache>/<hash>/<name>`, the output's own name); a request for a copy of
  an output, or for a file in the outputs folder itself, gets it only when it comes from the output's maker or the
  operator, else 403 with no path in it. Other files (uploads, previews) pass through to Gradio's own checks.
- `install(demo)`: when the outputs folder lies where Gradio does not copy from (outside the working folder and
  the temp folder, e.g. /srv/outputs), every event's returned output paths are first linked (or copied) into
  Gradio's cache folder under an unguessable name, so they reach the page without `allowed_paths`.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
import secrets
import shutil
import tempfile
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

from studio.api.web import files

from . import access


COOKIE = "aigc_browser"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_FILE_ROUTE = re.compile(r"^(?:/gradio_api)?/file(?:=|/)(.+)$", re.S)


# -- who is asking ------------------------------------------------------------------------------------------
def browser_of(request) -> str | None:
    """The browser cookie of a gr.Request (None without one, e.g. a direct call)."""
    try:
        value = request.cookies.get(COOKIE) if request is not None else None
    except Exception:  # a gr.Request built without an HTTP request
        value = None
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else None


def who(request) -> files.Who:
    """studio.core.files' Who of a gr.Request: its login, its browser (cookie, else Gradio's session), its role."""
    browser = browser_of(request)
    if browser is None and getattr(request, "session_hash", None):
        browser = "session:" + request.session_hash
    return files.Who(getattr(request, "username", None) or None, browser, access.is_operator(request))


def _from_gradio() -> files.Who | None:
    """The requester of the event being run in this thread (Gradio's LocalContext), None outside an event."""
    from gradio.context import LocalContext
    request = LocalContext.request.get(None)
    return who(request) if request is not None else None


files.set_provider(_from_gradio)


# -- the route check ----------------------------------------------------------------------------------------
def _cookies(scope) -> SimpleCookie:
    jar = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: as if there were none
                pass
    return jar


def _user(scope, jar: SimpleCookie) -> str | None:
    app = scope.get("app")
    tokens = getattr(app, "tokens", None)
    if not tokens:
        return None
    for name in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
        if name in jar and tokens.get(jar[name].value):
            return tokens[jar[name].value]
    return None


def allowed(path_text: str, requester: files.Who) -> bool:
    """May `requester` fetch the file Gradio's file route would serve for `path_text`?"""
    try:
        path = Path(os.path.abspath(path_text))  # what Gradio's file route serves, before its own checks
        real = path.resolve()
    except (OSError, ValueError):
        return True  # Gradio refuses it itself
    if files.in_outputs(real):  # the outputs folder itself: its makers and the operator only
        return files.may_open(real, requester)
    verdict = files.may_open_named(real.name, requester)  # a copy of an output (Gradio's cache keeps the name)
    return True if verdict is None else verdict


class Files:
    """ASGI middleware: the browser cookie, and the requester check on Gradio's file route."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        jar = _cookies(scope)
        browser = jar[COOKIE].value if COOKIE in jar and _TOKEN.fullmatch(jar[COOKIE].value) else None
        fresh = None
        if browser is None:  # this request's handlers see it too; the answer sets it for the next ones
            browser = fresh = secrets.token_hex(16)
            headers = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
            others = "; ".join(f"{k}={m.value}" for k, m in jar.items())
            cookie = f"{COOKIE}={fresh}" + (f"; {others}" if others else "")
            scope = {**scope, "headers": headers + [(b"cookie", cookie.encode("latin-1"))]}
        path = scope.get("path", "")
        root_path = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path):]
        match = _FILE_ROUTE.match(path)
        if match and scope.get("method") in ("GET", "HEAD") and not match.group(1).startswith(("http:", "https:")):
            user = _user(scope, jar)
            requester = files.Who(user, browser, access.is_operator(SimpleNamespace(username=user,
                                                                                    session_hash=None)))
            if not allowed(match.group(1), requester):
                body = b"File not allowed."
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                return await send({"type": "http.response.body", "body": body})

        async def send_with_cookie(message):
            if fresh and message["type"] == "http.response.start":
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                value = f"{COOKIE}={fresh}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", value.encode())]}
            await send(message)
        await self.app(scope, receive, send_with_cookie)


# -- outputs outside Gradio's reach (STUDIO_OUTPUT_DIR=/srv/outputs) ------------------------------------------
def _gradio_reaches(folder: Path) -> bool:
    """Gradio copies a returned file into its cache only from the working folder, the temp folder (and
    allowed_paths, which the studio does not use)."""
    return any(folder.is_relative_to(Path(base).resolve()) for base in (os.getcwd(), tempfile.gettempdir()))


_staged: dict[str, str] = {}
_staged_lock = threading.Lock()


def stage(path: str) -> str:
    """A copy (a hard link where it can) of an output in Gradio's cache folder, under an unguessable folder and
    the output's own name (so `Files` still knows whose it is); other values come back unchanged."""
    real = Path(path).resolve()
    if not files.in_outputs(real) or not real.is_file() or _gradio_reaches(files.root()):
        return path
    from gradio.utils import get_upload_folder
    key = f"{real}:{real.stat().st_mtime_ns}"
    with _staged_lock:
        if key in _staged and Path(_staged[key]).is_file():
            return _staged[key]
        folder = Path(get_upload_folder()).resolve() / secrets.token_hex(16)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / real.name
        try:
            os.link(real, target)
        except OSError:  # another file system
            shutil.copy2(real, target)
        _staged[key] = str(target)
        return str(target)


def _staged_value(value):
    """`value` with every output path in it (in lists, tuples, dicts, component updates) staged."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if len(text) < 4096 and os.path.isabs(text):
            new = stage(text)
            return new if new != text else value
        return value
    if isinstance(value, tuple):
        return tuple(_staged_value(v) for v in value)
    if isinstance(value, list):
        return [_staged_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _staged_value(v) for k, v in value.items()}
    return value


def _wrap(fn):
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def agen(*args, **kwargs):
            async for item in fn(*args, **kwargs):
                yield _staged_value(item)
        return agen
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coro(*args, **kwargs):
            return _staged_value(await fn(*args, **kwargs))
        return coro
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            for item in fn(*args, **kwargs):
                yield _staged_value(item)
        return gen

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        return _staged_value(fn(*args, **kwargs))
    return plain


def install(demo) -> int:
    """Stage returned output paths for every event of `demo` when Gradio would refuse them (the outputs folder
    outside the working and temp folders); returns how many events were wrapped (0: nothing needed)."""
    if _gradio_reaches(files.root()):
        return 0
    count = 0
    for block_fn in demo.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, "studio_staged", False):
            block_fn.fn = _wrap(block_fn.fn)
            block_fn.fn.studio_staged = True
            count += 1
    return count
