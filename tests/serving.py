"""The app served in-process as app.py serves it (tabs.server.launch: login, middleware), on a free port."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def served(concurrency: int = 1, **launch):
    """Yield (url, demo) of a freshly built and launched studio; closed afterwards."""
    import app
    from tabs import server
    demo = app.build_demo()
    demo.queue(default_concurrency_limit=concurrency)
    _, url, _ = server.launch(demo, **{"server_port": None, "prevent_thread_lock": True, "quiet": True, **launch})
    try:
        yield url, demo
    finally:
        demo.close()
