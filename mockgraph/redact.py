"""Secrets out of anything that leaves the mock's memory: journal entries, recordings, logs.

Secret JWK members (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``), action secrets
(``password``, the PFX ``key`` of uploadPkcs12) and bearer tokens are replaced by
:data:`REDACTED`, wherever they stand in a JSON value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import SECRET_FIELDS

REDACTED = "<redacted>"
#: Member names whose values are secret wherever they appear in a body.
SECRET_MEMBERS: frozenset[str] = SECRET_FIELDS | {
    "password",
    "client_secret",
    "access_token",
    "refresh_token",
}
#: Headers whose values are secret.
SECRET_HEADERS: frozenset[str] = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization"}
)


def redact_body(value: Any, *, operation: str | None = None) -> Any:
    """A copy of a JSON value with every secret member's value replaced. For uploadPkcs12 the
    ``key`` (the private key file) is secret too."""
    extra = {"key"} if operation == "uploadPkcs12" else set()
    return _walk(value, SECRET_MEMBERS | extra)


def _walk(value: Any, names: frozenset[str] | set[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if k in names and v is not None else _walk(v, names))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(v, names) for v in value]
    return value


def redact_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """Headers as a plain dict, secret ones redacted (a bearer token keeps its scheme)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {REDACTED}".strip()
        else:
            out[name] = value
    return out
