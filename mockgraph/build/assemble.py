"""The build: doc pages and the operations to cover -> the texts of the contract and example
files (:func:`build`), and those files on disk under a project root (:func:`check`,
:func:`write`)."""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockgraph.build.exchanges import Exchange, fixture
from mockgraph.build.pages import DocWarning, Sink, read_page
from mockgraph.build.resources import collect_resources
from mockgraph.build.schemas import SchemaWriter
from mockgraph.build.spec import OperationSpec
from mockgraph.build.statements import Facts, merge, read_statements

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
    """The text of ``schemas/<id>.json`` (a draft 2020-12 contract for each of ``operations``
    a page defines) and of ``fixtures/examples/<name>.json`` (each documented example of one
    of them). ``case_insensitive`` names enumerated properties a request may spell in any case.

    ``docs`` are pages or folders of ``*.md``/``*.txt`` pages read in sorted order; later pages
    win every fact and example. A ``source`` is ``relpath:line`` (relative to its ``docs``
    entry). Only names, types, values, paths and the examples of the pages are copied. Writes
    nothing; a page defect is a :class:`DocWarning`, never an exception.
    """
    sink = Sink()
    pages = [read_page(file, text, sink) for file, text in _read_sources(docs, sink)]
    types, resource_files = collect_resources(pages, sink)
    names = frozenset(posixpath.basename(p.file) for p in pages)
    examples: dict[str, tuple[Exchange, OperationSpec]] = {}
    statements: list[Facts] = []
    for page in pages:
        is_resource = page.file in resource_files
        facts = read_statements(page, operations, types, names, is_resource, examples, sink)
        if facts is not None:
            statements.append(facts)
    files: dict[str, str] = {}
    by_op: dict[str, list[Exchange]] = {}
    for name, (exchange, op) in sorted(examples.items()):
        files[f"{EXAMPLE_DIR}/{name}.json"] = _dump(fixture(exchange, op))
        by_op.setdefault(op.id, []).append(exchange)
    merged = merge(statements, sink)
    writer = SchemaWriter(types, case_insensitive, sink)
    for op in operations:
        if op.id in merged:
            contract = writer.contract(op, merged[op.id], by_op.get(op.id, []))
            files[f"{SCHEMA_DIR}/{op.id}.json"] = _dump(contract)
        elif op.id in by_op:
            first = by_op[op.id][0]
            sink.warn(first.file, first.line, f"no page defines {op.id}; no contract written")
    return BuildResult(dict(sorted(files.items())), list(sink))


def check(result: BuildResult, out: Path) -> list[str]:
    """Relative paths under ``out`` that differ from ``result``, are missing, or are stale
    (``*.json`` in the output folders that the build no longer makes). Empty: up to date."""
    differ = [rel for rel, text in result.files.items() if _on_disk(out / rel) != text]
    stale = [
        f"{folder}/{path.name}"
        for folder in (SCHEMA_DIR, EXAMPLE_DIR)
        for path in (out / folder).glob("*.json")
        if f"{folder}/{path.name}" not in result.files
    ]
    return sorted(differ + stale)


def write(result: BuildResult, out: Path) -> list[str]:
    """Write ``result`` under ``out`` (only the files that change, each replaced atomically)
    and delete its stale files; the relative paths written or deleted. ``OSError`` propagates."""
    changed = check(result, out)
    for rel in changed:
        target = out / rel
        if rel not in result.files:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(result.files[rel].encode("utf-8"))
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    return changed


def _read_sources(docs: Sequence[Path], sink: Sink) -> list[tuple[str, str]]:
    """(file, text) of every page of ``docs``, in precedence order; bad bytes are replaced."""
    out: list[tuple[str, str]] = []
    for entry in map(Path, docs):
        if entry.is_dir():
            # By path components, so "microsoft-graph-docs/..." sorts before
            # "microsoft-graph-docs-contrib/...": the newer contrib pages win.
            pages = [p for p in entry.rglob("*") if p.suffix.lower() in (".md", ".txt")]
            pages.sort(key=lambda p: p.relative_to(entry).parts)
            paths = [(p, p.relative_to(entry).as_posix()) for p in pages if p.is_file()]
        elif entry.is_file():
            paths = [(entry, entry.name)]
        else:
            sink.warn(entry.as_posix(), 0, "no such file or folder")
            continue
        for path, file in paths:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                sink.warn(file, 0, f"cannot be read ({exc.strerror})")
                continue
            try:
                out.append((file, raw.decode("utf-8-sig")))
            except UnicodeDecodeError as exc:
                sink.warn(file, raw.count(b"\n", 0, exc.start) + 1, "not UTF-8; bad bytes replaced")
                out.append((file, raw.decode("utf-8-sig", errors="replace")))
    return out


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _on_disk(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
