"""How the studio is served: one `launch` for app.py and the tests alike, so what the tests check is what runs.

It gives Gradio the login accounts and the studio's middleware: tabs.guard (owner-only cancels, a slowed login,
nothing of the API before login), tabs.files (each learner's files their own) and tabs.refusals.QueueFull (a full
queue answered in the learner's language).
"""
from __future__ import annotations

import logging

import gradio as gr
from starlette.middleware import Middleware

from studio.api.web import accounts, settings

from . import access, files, gradio_locale, guard, refusals


log = logging.getLogger("studio")
AUTH_MESSAGE = ("AIGC Studio · 请输入老师发给你的账号和密码（连续输错几次会暂停登录一会儿） / "
                "Sign in with the account your teacher gave you (after a few wrong passwords, login pauses a while)")


def launch_kwargs() -> dict:
    """Keyword arguments of demo.launch() from the current settings."""
    s = settings()
    logins = accounts.logins()
    return dict(server_name=s.host, server_port=int(s.port), share=s.share, max_file_size=f"{s.max_upload_mb}mb",
                auth=list(logins.items()) or None, auth_message=AUTH_MESSAGE,
                i18n=gradio_locale.i18n(),  # Gradio's words where its own tables lack them
                # Per-session server memory (~0.8 MB each) is capped; closed pages are freed by tabs.sessions, and
                # Gradio's delete_cache is a gr.Blocks argument (app.build_demo), not one of launch().
                state_session_capacity=max(1, int(s.max_sessions)),
                # Gradio runs at most max_threads events at once (async ones too): a class's waiting jobs, their
                # pages' light events and the operator's must all fit, or a click waits unseen in Gradio's queue.
                max_threads=max(40, s.queue_size + s.class_size + 10),
                app_kwargs={"middleware": [Middleware(guard.Guard), Middleware(files.Files),
                                           Middleware(refusals.QueueFull)]})


def warn_if_open() -> None:
    """The start log says when a public server runs without login."""
    if access.login_on() or access.local_only():
        return
    if settings().operator_view:
        log.warning("no login on a public address and STUDIO_OPERATOR_VIEW=1: every visitor may manage models, "
                    "the queue and retention. Set STUDIO_AUTH_FILE and STUDIO_OPERATORS for a class.")
    else:
        log.warning("no login on a public address: everyone is a learner, operator actions (models, queue, "
                    "retention) are refused. Set STUDIO_AUTH_FILE and STUDIO_OPERATORS to run it for a class.")


def launch(demo: gr.Blocks, **overrides):
    """demo.launch() with the studio's settings; `overrides` are for tests (prevent_thread_lock, quiet, port)."""
    warn_if_open()
    files.install(demo)  # outputs outside Gradio's reach (e.g. /srv/outputs) are staged into its cache
    return demo.launch(**{**launch_kwargs(), **overrides})
