"""The operations a build writes contracts for (from the resources' operations tables), and
matching a request line to one of them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mockgraph.http.routing import Resource
from mockgraph.resources import RESOURCES


@dataclass(frozen=True)
class OperationSpec:
    """One operation: its id, HTTP method and path template (below ``/beta``; ``{name}``
    matches any one segment), and the decisions its doc pages leave open: the members a request
    body requires (the pages never say), the parameters that are secret although the page does
    not say so, and the schema of ``id`` when the body is the resource itself (``None``: as its
    resource page types it)."""

    id: str
    method: str
    path: str
    required: tuple[str, ...] = ()
    secret_parameters: frozenset[str] = frozenset()
    entity_id_schema: Mapping[str, Any] | None = None


def operation_specs(resources: Iterable[Resource] = RESOURCES) -> list[OperationSpec]:
    """The :class:`OperationSpec` of every operation of ``resources`` that has a contract, the
    decisions its pages leave open read from its declaration."""
    specs = []
    for resource in resources:
        for op in resource.operations:
            if not op.contract:
                continue
            members = op.body.fields if op.body is not None else {}
            specs.append(
                OperationSpec(
                    op.id,
                    op.methods[0],
                    op.path,
                    required=tuple(name for name, f in members.items() if f.required),
                    secret_parameters=op.secrets,
                    entity_id_schema=resource.id_schema if "id" in members else None,
                )
            )
    return specs


def case_insensitive(resources: Iterable[Resource] = RESOURCES) -> frozenset[str]:
    """The enumerated properties compared without regard to letter case."""
    return frozenset(name for resource in resources for name in resource.case_insensitive)


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
    """How warnings name ``operations``: the last fixed path segment they all share
    (``keySets`` for ``/trustFramework/keySets`` and everything below it), else ``listed``."""
    shared = os.path.commonprefix([_segments(op.path) for op in operations])
    fixed = [s for s in shared if not _is_variable(s)]
    return fixed[-1] if fixed else "listed"
