"""The operations a build writes contracts for, and matching a request line to one of them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class OperationSpec:
    """One operation: its id, HTTP method and path template (below ``/beta``; ``{name}``
    matches any one segment), and the decisions its doc pages leave open.

    ``required``: the members a request body must have, in this order. The pages never say
    which parameters are required.

    ``secret_parameters``: action parameters that carry secret material; marked ``writeOnly``
    in the request schema even when the page does not say they cannot be read back.

    ``entity_id_schema``: when the request body is the resource itself (create, replace), the
    schema of its ``id`` member, e.g. the pattern the mock's parser enforces, so the contract
    accepts exactly what the mock accepts. ``None``: ``id`` is typed as its resource page says.
    """

    id: str
    method: str
    path: str
    required: tuple[str, ...] = ()
    secret_parameters: frozenset[str] = frozenset()
    entity_id_schema: Mapping[str, Any] | None = None


def _segments(path: str) -> list[str]:
    path = re.sub(r"\(\s*'([^']*)'\s*\)", r"/\1", path)  # keySets('x') -> keySets/x
    segments = [s for s in path.split("/") if s]
    if segments and segments[0].lower() in ("beta", "v1.0"):
        segments = segments[1:]
    # The OpenAPI description qualifies actions (microsoft.graph.generateKey); Graph accepts both.
    return [s[16:] if s.lower().startswith("microsoft.graph.") else s for s in segments]


def _is_variable(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def match_operation(
    method: str, path: str, operations: Sequence[OperationSpec]
) -> OperationSpec | None:
    """The first of ``operations`` whose method and template match ``path`` (a URL or a path,
    with or without ``/beta``); segments compare without regard to letter case."""
    segments = _segments(urlsplit(path).path)
    for op in operations:
        template = _segments(op.path)
        if op.method != method.upper() or len(template) != len(segments):
            continue
        if all(
            (_is_variable(t) and s) or t.lower() == s.lower()
            for t, s in zip(template, segments, strict=True)
        ):
            return op
    return None


def family_name(operations: Sequence[OperationSpec]) -> str:
    """How warnings name the operations: the last fixed path segment they all share
    (``keySets`` for ``/trustFramework/keySets`` and everything below it), else ``listed``."""
    shared: list[str] | None = None
    for op in operations:
        segments = _segments(op.path)
        if shared is None:
            shared = segments
            continue
        length = 0
        while length < min(len(shared), len(segments)) and shared[length] == segments[length]:
            length += 1
        shared = shared[:length]
    fixed = [s for s in shared or [] if not _is_variable(s)]
    return fixed[-1] if fixed else "listed"
