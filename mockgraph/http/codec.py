"""The one JSON codec of every body the mock reads or writes (requests, answers, ``$batch``,
state files, skip tokens, the journal): orjson, strict.

The rule for invalid input is the same on every path: bytes that are not UTF-8, a leading
byte order mark, a lone surrogate escape (``"\\ud800"``: no Unicode character, and no UTF-8
encoding of it exists), ``NaN``/``Infinity``, a number too large for a double, or nesting
deeper than :data:`MAX_DEPTH` are refused with a :class:`JsonProblem` that says what and where
(the byte offset, the property path). So nothing the mock stores or echoes can fail to encode
later.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: The deepest nesting accepted. Graph's bodies are four levels deep; anything that walks a
#: value (redaction, the contract's message, the journal) stays far from Python's stack limit.
MAX_DEPTH = 64


class JsonProblem(ValueError):
    """Why bytes are not acceptable JSON; the message is a predicate ("is not valid UTF-8 ...")
    for the caller to give a subject ("The request body", "state file 'x'")."""


def encode(value: Any, *, indent: bool = False, sort: bool = False) -> bytes:
    """UTF-8 JSON, non-ASCII characters as they are: compact, or indented by two spaces;
    members in the order given, or sorted."""
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_SORT_KEYS if sort else 0)
    return orjson.dumps(value, option=option)


def decode(data: bytes | str) -> Any:
    """The JSON value of ``data``; raises :class:`JsonProblem` (see the module docstring)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JsonProblem(_explain(exc, data)) from None
    if _openers(data) > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JsonProblem(f"is nested more than {MAX_DEPTH} levels deep")
    return value


def _openers(data: bytes | str) -> int:
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
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
        return f"is not valid UTF-8 (byte {_first_invalid_byte(data)})"
    if "depth" in reason or "recursion" in reason:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return f"is not valid JSON: {reason} (line {exc.lineno}, column {exc.colno})"


def _first_invalid_byte(data: bytes | str) -> int:
    """The offset of the first byte that is not UTF-8 (orjson does not say where it is)."""
    try:
        if isinstance(data, str):
            data.encode("utf-8")
        else:
            data.decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        return exc.start
    return 0


def _surrogate_path(data: bytes | str) -> str:
    """The property path of the first string (or member name), in document order, holding a
    lone surrogate. The verdict is orjson's; the standard library, which accepts surrogates,
    only finds the place. A member name that is not Unicode is shown with ``?`` for it."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    # Depth first, children pushed in reverse: popped in document order, without recursion.
    stack: list[tuple[Any, str, bool]] = [(value, "", False)]
    while stack:
        item, path, bad_name = stack.pop()
        if bad_name or (isinstance(item, str) and not _encodable(item)):
            return path.encode("utf-8", "replace").decode()
        if isinstance(item, dict):
            members = [
                (child, f"{path}.{key}" if path else key, not _encodable(key))
                for key, child in item.items()
            ]
            stack.extend(reversed(members))
        elif isinstance(item, list):
            stack.extend(reversed([(child, f"{path}[{i}]", False) for i, child in enumerate(item)]))
    return ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
