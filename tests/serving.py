"""The app served in-process as app.py serves it (tabs.server.launch: login, middleware), on a free port: the one
launch every test uses (tests/conftest.py's `served_studio` and `client` fixtures wrap it)."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def served(concurrency: int = 1, max_size: int | None = None, **launch):
    """Yield (url, demo) of a freshly built and launched studio; closed afterwards. `concurrency` and `max_size`
    are the queue's (app.py: 1 and STUDIO_QUEUE_SIZE; model events have no limit: they wait in the scheduler);
    `launch` overrides demo.launch() keywords."""
    import app
    from tabs import server
    demo = app.build_demo()
    demo.queue(default_concurrency_limit=concurrency, max_size=max_size)
    _, url, _ = server.launch(demo, **{"server_port": None, "prevent_thread_lock": True, "quiet": True, **launch})
    try:
        yield url, demo
    finally:
        demo.close()
