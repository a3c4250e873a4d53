"""The build: doc pages and the operations to cover -> contract and example file texts."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockgraph.build.defects import DocWarning, Sink
from mockgraph.build.exchanges import Exchange, fixture
from mockgraph.build.pages import read_page
from mockgraph.build.resources import collect_resources
from mockgraph.build.schemas import SchemaWriter
from mockgraph.build.sources import read_sources
from mockgraph.build.spec import OperationSpec
from mockgraph.build.statements import Collected, merge, read_statements

SCHEMA_DIR = "schemas"
EXAMPLE_DIR = "fixtures/examples"


@dataclass(frozen=True)
class BuildResult:
    """Output file texts by relative path (``schemas/...``, ``fixtures/examples/...``)."""

    files: dict[str, str]
    warnings: list[DocWarning]


def build(
    docs: Sequence[Path],
    operations: Sequence[OperationSpec],
    *,
    case_insensitive: Collection[str] = (),
) -> BuildResult:
    """Read the pages of ``docs`` and return the text of ``schemas/<id>.json`` (one draft
    2020-12 contract per operation of ``operations`` that a page defines) and of
    ``fixtures/examples/<name>.json`` (one per documented example exchange that matches one
    of ``operations``). ``case_insensitive`` names enumerated properties whose documented
    values a request may spell in any letter case.

    ``docs`` entries are pages (whatever their suffix) or folders whose ``*.md`` and ``*.txt``
    pages are read in sorted order. Later entries win, and later pages inside a folder, for
    example definitions, resource types and every per-operation fact a page states
    (permissions, status, request body). A ``source`` is ``relpath:line``, ``relpath``
    relative to its ``docs`` entry (its file name for a file entry), with ``/`` separators.

    The pages are input data: nothing of their prose is copied into the outputs, only names,
    types, values, paths and the example exchanges. Pure: writes nothing. Never raises on a
    page defect: each one is a :class:`DocWarning`, in the order the build meets them.
    """
    sink = Sink()
    pages = [read_page(s.file, s.root_files, s.text, sink) for s in read_sources(docs, sink)]
    types, resource_pages = collect_resources(pages, sink)
    names = frozenset(posixpath.basename(p.file) for p in pages)
    collected = Collected(operations)
    for page in pages:
        read_statements(page, types, names, page.file in resource_pages, collected, sink)
    files: dict[str, str] = {}
    by_op: dict[str, list[Exchange]] = {}
    for name, (exchange, op) in sorted(collected.examples.items()):
        files[f"{EXAMPLE_DIR}/{name}.json"] = dump(fixture(exchange, op))
        by_op.setdefault(op.id, []).append(exchange)
    merged = merge(collected.statements, sink)
    writer = SchemaWriter(types, case_insensitive, sink)
    for op in operations:
        if op.id in merged:
            contract = writer.contract(op, merged[op.id], by_op.get(op.id, []))
            files[f"{SCHEMA_DIR}/{op.id}.json"] = dump(contract)
        elif op.id in by_op:
            first = by_op[op.id][0]
            sink.warn(first.file, first.line, f"no page defines {op.id}; no contract written")
    return BuildResult(dict(sorted(files.items())), sink.items)


def dump(value: Any) -> str:
    """The text of an output file: sorted keys, two-space indents, a final newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
