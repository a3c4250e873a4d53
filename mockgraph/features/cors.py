"""CORS for browser apps calling Graph's routes (below ``/beta`` only): which origins may call,
the preflight answer (204 before authentication, 403 for an origin not allowed), and the headers
that let a page's script read every answer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Request, Response

from mockgraph.config import BASE_PATH
from mockgraph.http.errors import AccessDenied, StartupError
from mockgraph.http.rendering import no_content

#: ``Config.cors_origins = None``: any port of the loopback names, over http or https.
LOCAL_ORIGIN = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?")
_ORIGIN_SHAPE = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#\s]+")

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
#: Always allowed: what a Graph call from a page needs.
BASE_HEADERS = ("Authorization", "Content-Type", "client-request-id")
#: Also allowed when a preflight asks for them: what the Graph SDKs and MSAL send, and the
#: mock's own headers (``x-mockgraph-*``).
OPTIONAL_HEADERS = frozenset(
    {"accept", "accept-language", "cache-control", "consistencylevel", "if-match"}
    | {"if-none-match", "prefer", "return-client-request-id", "sdkversion"}
)
OPTIONAL_PREFIXES = ("x-ms-", "x-mockgraph-")
EXPOSED_HEADERS = "request-id, client-request-id, Retry-After, Location"
#: Seconds a browser may cache a preflight answer (Chromium caps this at 7200).
MAX_AGE = "600"


@dataclass(frozen=True)
class OriginPolicy:
    """Which ``Origin`` values are allowed: the loopback origins (``origins=None``), exactly
    ``origins``, or any origin (``any_origin``)."""

    origins: frozenset[str] | None = None
    any_origin: bool = False

    @classmethod
    def from_config(cls, origins: Iterable[str] | None) -> OriginPolicy:
        """The policy of ``Config.cors_origins``; raises :class:`StartupError` for a value that
        is not ``*``, ``null`` or ``scheme://host[:port]``."""
        if origins is None:
            return cls()
        allowed = {origin.strip().rstrip("/").lower() for origin in origins}
        for origin in origins:
            value = origin.strip().rstrip("/").lower()
            if value not in ("*", "null") and not _ORIGIN_SHAPE.fullmatch(value):
                raise StartupError(
                    f"CORS origin {origin!r} is not '*', 'null' or scheme://host[:port] "
                    "(no path, e.g. http://localhost:3000)."
                )
        return cls(frozenset(allowed), any_origin="*" in allowed)

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        if self.origins is None:
            return LOCAL_ORIGIN.fullmatch(origin.lower()) is not None
        return self.any_origin or origin.lower() in self.origins


def allowed_request_headers(requested: str | None) -> list[str]:
    """The ``Access-Control-Allow-Headers`` list: the base headers, then those of the
    preflight's ``Access-Control-Request-Headers`` that are allowed, each once."""
    names = dict.fromkeys(h.lower() for h in BASE_HEADERS)
    for raw in (requested or "").split(","):
        name = raw.strip().lower()
        if name in OPTIONAL_HEADERS or (name and name.startswith(OPTIONAL_PREFIXES)):
            names.setdefault(name)
    return [*BASE_HEADERS, *list(names)[len(BASE_HEADERS) :]]


def _is_preflight(req: Request) -> bool:
    environ = req.environ
    return (
        req.method == "OPTIONS"
        and "HTTP_ORIGIN" in environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
    )


def answer_preflight(req: Request, policy: OriginPolicy) -> Response | None:
    """The request step: answer a CORS preflight to Graph's routes before anything may refuse
    it; raises :class:`AccessDenied` for another path or an origin not allowed."""
    if not _is_preflight(req):
        return None
    origin = req.headers["Origin"]
    if not req.path.startswith(BASE_PATH + "/"):
        raise AccessDenied(f"Only Graph's routes (below {BASE_PATH}) answer CORS preflights.")
    if not policy.allows(origin):
        raise AccessDenied(f"The origin '{origin}' is not allowed (CORS).")
    response = no_content()
    requested = req.headers.get("Access-Control-Request-Headers")
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ", ".join(allowed_request_headers(requested))
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    # Chromium's Private Network Access: an allowed public page may call the mock on loopback.
    if req.headers.get("Access-Control-Request-Private-Network") == "true":
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


def allow_origin(policy: OriginPolicy, req: Request, response: Response) -> None:
    """The after step: CORS headers on an answer below ``/beta`` for an allowed origin."""
    if not req.path.startswith(BASE_PATH + "/"):
        return
    response.headers["Vary"] = ", ".join([*response.headers.getlist("Vary"), "Origin"])
    origin = req.environ.get("HTTP_ORIGIN")
    if policy.allows(origin):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        if not _is_preflight(req):
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
