"""CORS for browser apps calling Graph's routes: which origins may call, the preflight answer,
and the headers that let a page's script read every answer, errors included.

An allowed origin gets ``Access-Control-Allow-Origin`` (its own value echoed) and the exposed
headers on every answer below ``/beta``, and its preflights are answered 204 before
authentication runs (a browser never sends ``Authorization`` on a preflight). A disallowed
origin gets no CORS headers, so the browser blocks the page's request; its preflight is answered
403. The control API (``/_mockgraph``) never grants CORS to anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from flask import Response, request

from mockgraph.config import BASE_PATH
from mockgraph.http.errors import AccessDenied, StartupError
from mockgraph.http.rendering import no_content

#: ``Config.cors_origins = None``: any port of the loopback names, over http or https.
LOCAL_ORIGIN = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?")
#: What an exact configured origin must look like: ``scheme://host[:port]``, nothing after.
_ORIGIN_SHAPE = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#\s]+")

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Always allowed: what a Graph call from a page needs.
BASE_HEADERS = ("Authorization", "Content-Type", "client-request-id")
#: Also allowed when a preflight asks for them: headers the Graph SDKs and MSAL send, and the
#: mock's own per-request headers (``x-mockgraph-*``).
OPTIONAL_HEADERS = frozenset(
    {"accept", "accept-language", "cache-control", "consistencylevel", "if-match"}
    | {"if-none-match", "prefer", "return-client-request-id", "sdkversion"}
)
OPTIONAL_PREFIXES = ("x-ms-", "x-mockgraph-")
EXPOSED_HEADERS = ("request-id", "client-request-id", "Retry-After", "Location")
#: Seconds a browser may cache a preflight answer (Chromium caps this at 7200).
MAX_AGE = 600


@dataclass(frozen=True)
class OriginPolicy:
    """Which ``Origin`` values are allowed. ``origins=None`` allows the loopback origins; a set
    allows exactly those, or any origin with ``any_origin``."""

    origins: frozenset[str] | None = None
    any_origin: bool = False

    @classmethod
    def from_config(cls, origins: Iterable[str] | None) -> OriginPolicy:
        """Raises :class:`StartupError` for a value that is not ``*``, ``null`` or
        ``scheme://host[:port]``."""
        if origins is None:
            return cls()
        allowed: set[str] = set()
        for origin in origins:
            value = origin.strip().rstrip("/").lower()
            if value == "*":
                return cls(origins=frozenset(), any_origin=True)
            if value != "null" and not _ORIGIN_SHAPE.fullmatch(value):
                raise StartupError(
                    f"CORS origin {origin!r} is not '*', 'null' or scheme://host[:port] "
                    "(no path, e.g. http://localhost:3000)."
                )
            allowed.add(value)
        return cls(origins=frozenset(allowed))

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        if self.any_origin:
            return True
        if self.origins is None:
            return LOCAL_ORIGIN.fullmatch(origin.lower()) is not None
        return origin.lower() in self.origins


def allowed_request_headers(requested: str | None) -> list[str]:
    """The ``Access-Control-Allow-Headers`` list: the base headers, then those of the
    preflight's ``Access-Control-Request-Headers`` that are allowed (others are left out, so
    the browser refuses to send them)."""
    names = list(BASE_HEADERS)
    seen = {name.lower() for name in names}
    for raw in (requested or "").split(","):
        name = raw.strip().lower()
        if (
            name
            and name not in seen
            and (name in OPTIONAL_HEADERS or name.startswith(OPTIONAL_PREFIXES))
        ):
            names.append(name)
            seen.add(name)
    return names


def _is_preflight() -> bool:
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )


def answer_preflight(policy: OriginPolicy) -> Response | None:
    """The request step: answer a CORS preflight to Graph's routes before anything may refuse
    it (a preflight carries no token); refuse one from an origin not allowed."""
    if not _is_preflight():
        return None
    origin = request.headers["Origin"]
    if not request.path.startswith(BASE_PATH + "/"):
        raise AccessDenied(f"Only Graph's routes (below {BASE_PATH}) answer CORS preflights.")
    if not policy.allows(origin):
        raise AccessDenied(f"The origin '{origin}' is not allowed (CORS).")
    response = no_content()
    response.headers["Access-Control-Allow-Methods"] = ", ".join(ALLOWED_METHODS)
    response.headers["Access-Control-Allow-Headers"] = ", ".join(
        allowed_request_headers(request.headers.get("Access-Control-Request-Headers"))
    )
    response.headers["Access-Control-Max-Age"] = str(MAX_AGE)
    # Chromium's Private Network Access: a page on a public origin that is configured as
    # allowed may call the mock on loopback.
    if request.headers.get("Access-Control-Request-Private-Network") == "true":
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


def allow_origin(policy: OriginPolicy, response: Response) -> None:
    """The after step: CORS headers on an answer below ``/beta`` for an allowed origin."""
    if not request.path.startswith(BASE_PATH + "/"):
        return
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if policy.allows(origin):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        if not _is_preflight():
            response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
