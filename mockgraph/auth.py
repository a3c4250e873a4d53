"""Who may call: the ``Authorization: Bearer`` header Graph requires on every request.

Any bearer token is accepted here; permission checks from JWT claims extend this module.
"""

from __future__ import annotations

from flask import Flask, request

from .config import BASE_PATH
from .errors import Unauthenticated
from .state import MockGraph


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises :class:`Unauthenticated`."""
    if not header or not header.strip():
        raise Unauthenticated("Access token is empty.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("The Authorization header must use the Bearer scheme.")
    if not token.strip():
        raise Unauthenticated("Access token is empty.")
    return token.strip()


def install(app: Flask, state: MockGraph) -> None:
    """Check the bearer token of every Graph request (CORS preflights excepted)."""
    if not state.config.require_auth:
        return

    @app.before_request
    def _authenticate() -> None:
        if request.method == "OPTIONS" or not request.path.startswith(BASE_PATH + "/"):
            return
        bearer_token(request.headers.get("Authorization"))
