"""Secrets out of everything that leaves the mock's memory: journal entries, recordings, the
request log and the pytest report.

Redaction works on what is parsed, as the mock itself reads it: a JSON body is decoded by the
one codec (so ``"\\u006b"`` is the member ``k``), member names compare in any letter case, and a
body that cannot be parsed is not kept at all (only its size), since a secret can hide in it in
any spelling. Secret are: the JWK private members (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``,
``qi``), passwords, client secrets and tokens, the members an operation declares secret (the
uploaded PFX or PEM file), any string holding a PEM private key, the secret-looking headers and
query options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mockgraph.http.codec import JsonProblem, decode

REDACTED = "<redacted>"
#: Member names (compared in lower case) whose values are secret wherever they appear.
SECRET_MEMBERS: frozenset[str] = frozenset(
    {"k", "d", "p", "q", "dp", "dq", "qi", "password", "client_secret", "client_assertion"}
    | {"access_token", "refresh_token", "id_token", "code", "assertion"}
)
#: Header names (lower case) whose values are secret; also any name holding one of the words.
SECRET_HEADERS: frozenset[str] = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization"}
)
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "auth")
#: Query option names holding one of these are secret (``$skiptoken`` is not).
_SECRET_OPTION_WORDS = ("secret", "password", "access_token", "api_key", "apikey", "sig")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)


def not_kept(data: bytes, why: str) -> str:
    """What is kept of a body that is not: its size and why."""
    return f"<not recorded: {len(data)} bytes, {why}>"


def read_body(data: bytes | None, *, secrets: Iterable[str] = ()) -> Any:
    """A request or answer body as the journal and recordings keep it: ``None`` when empty;
    its JSON value with every secret redacted; else a note of its size (see the module)."""
    if not data:
        return None
    try:
        value = decode(data)
    except JsonProblem:
        return not_kept(data, "not JSON")
    return redact_body(value, secrets=secrets)


def redact_body(value: Any, *, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with the values of secret members replaced by :data:`REDACTED`
    (also ``secrets``, the operation's own), and PEM private keys cut out of every string."""
    names = SECRET_MEMBERS | {s.lower() for s in secrets}
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if str(k).lower() in names and v is not None
            else redact_body(v, secrets=names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_body(v, secrets=names) for v in value]
    if isinstance(value, str) and "PRIVATE KEY" in value:
        return _PRIVATE_KEY.sub(REDACTED, value)
    return value


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict, secret values redacted (a bearer token keeps its scheme); a repeated
    header's values joined with ``", "``."""
    out: dict[str, str] = {}
    for name, value in headers:
        if is_secret_header(name):
            scheme = value.split(" ", 1)[0] if " " in value.strip() else ""
            value = f"{scheme} {REDACTED}".strip()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def redact_query(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query pairs with the values of secret options (``access_token``, ``code``...) redacted."""
    return [
        (n, REDACTED if n.lower().lstrip("$") in SECRET_MEMBERS or is_secret_header(n) else v)
        for n, v in pairs
    ]
