"""Secrets out of anything that leaves the mock's memory: journal entries, recordings, logs.

Secret JWK members (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``), action secrets
(``password``, the PFX ``key`` of uploadPkcs12) and bearer tokens are replaced by
:data:`REDACTED`, wherever they stand in a JSON value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mockgraph.resources.keysets.models import SECRET_FIELDS

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


#: Text bodies (not JSON) are kept up to this many bytes; longer ones are cut and the file
#: says ``"truncated": true``.
MAX_TEXT_BYTES = 64 * 1024

#: Bodies nested deeper than this are not kept (journal, recordings): Graph's are four levels
#: deep, and the walks that redact and normalise them would overflow Python's stack.
MAX_DEPTH = 64
TOO_DEEP = f"<not recorded: nested deeper than {MAX_DEPTH} levels>"

_SECRET_NAMES = "|".join(sorted(re.escape(n) for n in SECRET_MEMBERS | {"key"}))
#: A secret member's value in text that is not JSON: ``"k": "..."``, ``'k': '...'`` (a Python
#: dict sent as text), ``k=...`` (a form), ``k: ...`` (YAML-ish), quoted or not.
_SECRET_IN_TEXT = re.compile(
    rf"""(["']?\b(?:{_SECRET_NAMES})\b["']?\s*[:=]\s*)"""
    r"""("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^,&\s}\]]*)"""
)


def _redact_match(match: re.Match[str]) -> str:
    """The member kept, its value redacted, in the quotes it had."""
    quote = match.group(2)[:1] if match.group(2)[:1] in {'"', "'"} else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def decode_body(data: bytes) -> tuple[Any, bool]:
    """A body as the journal and recordings keep it, and whether it was cut: ``None`` when
    empty; the JSON value when it is JSON, or :data:`TOO_DEEP` when nested deeper than
    :data:`MAX_DEPTH`;
    else its text (UTF-8, undecodable bytes replaced) up to :data:`MAX_TEXT_BYTES`, with the
    values of secret members (``"k": "..."``, ``password=...``) redacted, since malformed JSON
    is where a secret would otherwise slip through."""
    if not data:
        return None, False
    try:
        value = json.loads(data, parse_constant=_not_json)
    except (ValueError, RecursionError):
        text = data[:MAX_TEXT_BYTES].decode("utf-8", "replace")
        text = _SECRET_IN_TEXT.sub(_redact_match, text)
        return text, len(data) > MAX_TEXT_BYTES
    if nested_deeper_than(value, MAX_DEPTH):
        return TOO_DEEP, True
    return value, False


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` has containers nested more than ``limit`` deep (without
    recursion, so a hostile value cannot overflow the stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def redact_body(value: Any, *, operation: str | None = None) -> Any:
    """A copy of a JSON value with every secret member's value replaced. For uploadPkcs12 the
    ``key`` (the private key file) is secret too."""
    # A $batch body may carry an uploadPkcs12 item: its `key` is the private key file.
    extra = {"key"} if operation in {"uploadPkcs12", "batch"} else set()
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
