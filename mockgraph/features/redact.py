"""Secrets out of everything that leaves the mock's memory (journal, recordings, request log,
pytest report). It works on what is parsed: a body decoded by the one codec, member names in any
letter case; a body that does not parse keeps only its size."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mockgraph.http.codec import JsonProblem, decode

REDACTED = "<redacted>"
#: Member names (lower case) whose values are secret wherever they appear: the JWK private
#: members, passwords, client secrets and tokens.
SECRET_MEMBERS: frozenset[str] = frozenset(
    {"k", "d", "p", "q", "dp", "dq", "qi", "password", "client_secret", "client_assertion"}
    | {"access_token", "refresh_token", "id_token", "assertion"}
    # The uploads' file: a PFX holds a private key, and a certificate file may carry one.
    | {"key"}
)
#: Header names (lower case) whose values are secret; also any name holding one of the words.
SECRET_HEADERS: frozenset[str] = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization"}
)
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "auth")
#: Query options (lower case, without ``$``) whose values are secret: OAuth's (RFC 6749), shared
#: access signatures' ``sig``, API keys; also any name holding one of the words, and any name
#: ending in ``token`` but OData's cursors.
SECRET_OPTIONS: frozenset[str] = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "client_assertion"}
    | {"assertion", "code", "password", "sig", "signature", "key", "token"}
)
_SECRET_OPTION_WORDS = ("secret", "password", "api_key", "api-key", "apikey", "auth")
_CURSORS = frozenset({"skiptoken", "deltatoken"})
#: Authorization schemes (RFC 9110 section 11) kept in front of a redacted credential.
_SCHEMES = frozenset({"basic", "bearer", "digest", "negotiate", "ntlm", "pop"})
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)


def _in_base64(text: bytes) -> list[str]:
    """How ``text`` reads inside base64 (standard and URL-safe) at each of the three byte
    alignments: only the characters that depend on ``text`` alone."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + text).decode("ascii")
        part = encoded[-(-8 * shift // 6) : 8 * (shift + len(text)) // 6]
        forms += [part, part.replace("+", "-").replace("/", "_")]
    return forms


#: The end of a PEM private key's first line, as base64 of a PEM file shows it.
_PRIVATE_KEY_IN_BASE64 = re.compile("|".join(map(re.escape, _in_base64(b"PRIVATE KEY-----"))))


def not_kept(data: bytes, why: str) -> str:
    """What is kept of a body that is not: its size and why."""
    return f"<not recorded: {len(data)} bytes, {why}>"


def read_body(data: bytes | None, *, secrets: Iterable[str] = ()) -> Any:
    """A body as the journal and recordings keep it: ``None`` when empty, its JSON value with
    every secret redacted, else :func:`not_kept`."""
    if not data:
        return None
    try:
        return redact_body(decode(data), secrets=secrets)
    except JsonProblem:
        return not_kept(data, "not JSON")


def redact_body(value: Any, *, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with the values of secret members (also ``secrets``, the
    operation's own, and members named as secret headers) replaced by :data:`REDACTED`, PEM
    private keys cut out of every string, a base64 string holding one redacted whole, the
    secret query values of a ``url`` redacted, and a string that is itself JSON redacted as
    the value it holds."""
    names = SECRET_MEMBERS | {s.lower() for s in secrets}
    if isinstance(value, Mapping):
        return {k: _member(str(k), v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_body(v, secrets=names) for v in value]
    if not isinstance(value, str):
        return value
    if value.lstrip()[:1] in ("{", "["):
        try:
            return redact_body(decode(value), secrets=names)
        except JsonProblem:
            pass
    if "PRIVATE KEY" in value:
        return _PRIVATE_KEY.sub(REDACTED, value)
    flat = value.replace("\n", "").replace("\r", "")
    return REDACTED if len(value) > 20 and _PRIVATE_KEY_IN_BASE64.search(flat) else value


def _member(name: str, value: Any, names: frozenset[str]) -> Any:
    lowered = name.lower()
    if value is not None and (lowered in names or _is_secret_header(lowered)):
        return REDACTED
    if lowered == "url" and isinstance(value, str) and "?" in value:
        path, _, query = value.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        return path + "?" + urlencode(redact_query(pairs), safe="$'(),<>")
    return redact_body(value, secrets=names)


def _is_secret_header(lowered: str) -> bool:
    return lowered in SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


def is_secret_option(name: str) -> bool:
    """Whether a query option's value is secret (``access_token``, ``client_secret``, ``sig``,
    ``code``...); OData's own options and cursors (``$top``, ``$skiptoken``) are not."""
    bare = name.lower().lstrip("$")
    if bare in SECRET_OPTIONS or any(word in bare for word in _SECRET_OPTION_WORDS):
        return True
    return bare.endswith("token") and bare not in _CURSORS


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict, secret values redacted (a credential keeps its authorization
    scheme: ``Bearer <redacted>``); a repeated header's values joined with ``", "``."""
    out: dict[str, str] = {}
    for name, value in headers:
        if _is_secret_header(name.lower()):
            scheme = value.strip().split(" ", 1)[0]
            kept = scheme if " " in value.strip() and scheme.lower() in _SCHEMES else ""
            value = f"{kept} {REDACTED}".strip()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def redact_query(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query pairs with the values of secret options redacted (see :func:`is_secret_option`)."""
    return [(n, REDACTED if is_secret_option(n) else v) for n, v in pairs]
