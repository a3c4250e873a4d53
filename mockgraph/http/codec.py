"""The one JSON codec of every body the mock reads or writes (requests, answers, ``$batch``,
state files, skip tokens, the journal): orjson, strict.

The rule for invalid input is the same on every path: bytes that are not UTF-8, a lone
surrogate escape (``"\\ud800"``: no Unicode character, and no UTF-8 encoding of it exists),
``NaN``/``Infinity``, a number too large for a double, or nesting deeper than
:data:`MAX_DEPTH` are refused with a :class:`JsonProblem` that says what and where. So nothing
the mock stores or echoes can fail to encode later.
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
    if "surrogate" in reason and "UTF-8" not in reason:
        where = _surrogate_path(data)
        place = f" in the property '{where}'" if where else ""
        return f"holds a lone surrogate escape{place}, which is not valid Unicode"
    if "UTF-8" in reason:
        return f"is not valid UTF-8 (byte {exc.pos})"
    if "depth" in reason or "recursion" in reason:
        return f"is nested more than {MAX_DEPTH} levels deep"
    return f"is not valid JSON: {reason} (line {exc.lineno}, column {exc.colno})"


def _surrogate_path(data: bytes | str) -> str:
    """The property path of the first string holding a lone surrogate. The verdict is
    orjson's; the standard library, which accepts surrogates, only finds the place."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop(0)
        if isinstance(item, str) and not _encodable(item):
            return path
        if isinstance(item, dict):
            for key, child in item.items():
                here = f"{path}.{key}" if path else str(key)
                if not _encodable(key):
                    return here.encode("utf-8", "replace").decode()
                stack.append((child, here))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
