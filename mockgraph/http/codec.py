"""The one JSON codec of every body the mock reads or writes (requests, answers, ``$batch``,
state files, skip tokens, the journal): orjson, strict.

Bytes that are not UTF-8, a leading byte order mark, a lone surrogate escape (``"\\ud800"``: no
UTF-8 encoding of it exists), ``NaN``/``Infinity``, a number too large for a double, or nesting
deeper than :data:`MAX_DEPTH` raise a :class:`JsonProblem` saying what and where. So nothing
the mock stores or echoes can fail to encode later.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: The deepest nesting accepted: Graph's bodies are four levels deep, and whatever walks a
#: value (redaction, the contract's message, the journal) stays far from Python's stack limit.
MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProblem(ValueError):
    """Why bytes are not acceptable JSON, as a predicate ("is not valid UTF-8 ...") for the
    caller to give a subject ("The request body", "state file 'x'")."""


def encode(value: Any, *, indent: bool = False, sort: bool = False) -> bytes:
    """UTF-8 JSON: compact or indented by two spaces, members in the given order or sorted."""
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_SORT_KEYS if sort else 0)
    return orjson.dumps(value, option=option)


def decode(data: bytes | str) -> Any:
    """The JSON value of ``data``; raises :class:`JsonProblem` (see the module docstring)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonProblem(_explain(exc, data)) from None
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JsonProblem(f"is nested more than {MAX_DEPTH} levels deep")
    return value


def json_value(data: bytes | None) -> Any:
    """The JSON value of a body, or ``None`` when it is empty or not JSON."""
    try:
        return decode(data) if data else None
    except JsonProblem:
        return None


def depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _explain(exc: orjson.JSONDecodeError, data: bytes | str) -> str:
    reason = exc.msg
    if "byte order mark" in reason:
        # RFC 8259 section 8.1: a JSON text sent over a network never starts with a BOM.
        return "is not valid JSON: it starts with a byte order mark"
    if "surrogate" in reason and "UTF-8" not in reason:
        where = _surrogate_path(data)
        place = f" in the property '{where}'" if where else ""
        return f"holds a lone surrogate escape{place}, which is not valid Unicode"
    if "UTF-8" in reason:
        try:  # orjson does not say where
            data.encode("utf-8") if isinstance(data, str) else data.decode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError) as error:
            return f"is not valid UTF-8 (byte {error.start})"
        return "is not valid UTF-8 (byte 0)"
    if "depth" in reason or "recursion" in reason:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return f"is not valid JSON: {reason} (line {exc.lineno}, column {exc.colno})"


def _surrogate_path(data: bytes | str) -> str:
    """The property path of the first string or member name, in document order, holding a
    lone surrogate (which the standard library, unlike orjson, decodes); a member name is shown
    with ``?`` for it."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    # Depth first, children pushed in reverse: popped in document order, without recursion.
    stack: list[tuple[Any, str, bool]] = [(value, "", False)]
    while stack:
        item, path, bad_name = stack.pop()
        if bad_name or (isinstance(item, str) and _SURROGATE.search(item)):
            return path.encode("utf-8", "replace").decode()
        if isinstance(item, dict):
            members = [
                (v, f"{path}.{k}" if path else k, bool(_SURROGATE.search(k)))
                for k, v in item.items()
            ]
            stack.extend(reversed(members))
        elif isinstance(item, list):
            stack.extend(reversed([(child, f"{path}[{i}]", False) for i, child in enumerate(item)]))
    return ""
