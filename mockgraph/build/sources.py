"""The pages of the ``docs`` entries, in precedence order, with the files beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mockgraph.build.defects import Sink

#: The suffixes of the pages read below a folder; a file given directly is read whatever its name.
PAGE_SUFFIXES = (".md", ".txt")


@dataclass(frozen=True)
class Source:
    """One page's text. ``file`` is relative to its docs entry (its name for a file entry),
    with ``/`` separators; ``root_files`` holds every file below that entry, spelled alike."""

    file: str
    root_files: frozenset[str]
    text: str


def read_sources(docs: Sequence[Path], sink: Sink) -> list[Source]:
    """Every page of ``docs`` (files, or folders whose pages are read in sorted order) in
    precedence order: later wins. A missing entry, an unreadable file or bytes that are not
    UTF-8 are warned; the bad bytes are replaced."""
    out: list[Source] = []
    for entry in docs:
        entry = Path(entry)
        if entry.is_dir():
            files = sorted(
                (p for p in entry.rglob("*") if p.is_file()),
                # By path components, so "microsoft-graph-docs/..." sorts before
                # "microsoft-graph-docs-contrib/...": the newer contrib pages win.
                key=lambda p: p.relative_to(entry).parts,
            )
            root_files = frozenset(p.relative_to(entry).as_posix() for p in files)
            chosen = [p for p in files if p.suffix.lower() in PAGE_SUFFIXES]
            paths = [(p, p.relative_to(entry).as_posix()) for p in chosen]
        elif entry.is_file():
            root_files = frozenset({entry.name})
            paths = [(entry, entry.name)]
        else:
            sink.warn(entry.as_posix(), 0, "no such file or folder")
            continue
        for path, rel in paths:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                sink.warn(rel, 0, f"cannot be read ({exc.strerror})")
                continue
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                sink.warn(rel, raw.count(b"\n", 0, exc.start) + 1, "not UTF-8; bad bytes replaced")
                text = raw.decode("utf-8-sig", errors="replace")
            out.append(Source(rel, root_files, text))
    return out
