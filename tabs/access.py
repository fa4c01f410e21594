"""Who is asking: the login name, the browser session, and whether they may act as the operator (the teacher).

Roles (README "Running it for a class"):
- login on (STUDIO_AUTH / STUDIO_AUTH_FILE): the operator is a login name in STUDIO_OPERATORS; everyone else is a
  learner, whatever STUDIO_OPERATOR_VIEW says (a learner's click can never make them the operator);
- login off, served only on this machine (127.0.0.1 / localhost, no share link): the local user is the operator
  (a teacher's or learner's own laptop);
- login off on a public address (0.0.0.0, a Space, a share link): nobody is, unless the server's operator set
  STUDIO_OPERATOR_VIEW=1.
`studio.api` called from Python is not role-checked: whoever runs Python on the server is its operator.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.api.web import accounts, settings


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Who:
    user: str | None  # the login name (None with login off)
    session: str  # Gradio's session hash: one browser tab, or one gradio_client Client


def who(request: gr.Request | None) -> Who:
    return Who(getattr(request, "username", None) or None, getattr(request, "session_hash", None) or "local")


def login_on() -> bool:
    return bool(accounts.logins())


def local_only() -> bool:
    s = settings()
    return str(s.host).strip() in LOOPBACK and not s.share


def is_operator(request: gr.Request | None) -> bool:
    s = settings()
    if login_on():
        user = who(request).user
        return bool(user) and user in s.operators
    return local_only() or bool(s.operator_view)


def require_operator(request: gr.Request | None, lang: str) -> None:
    """Refuse an operator action to a learner, in the page's language (the page and gradio_client alike)."""
    from .ui import s as label
    if not is_operator(request):
        raise gr.Error(label("op.denied", lang), print_exception=False)
