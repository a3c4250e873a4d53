"""A build's files on disk: which differ (:func:`check`) and bringing them up to date
(:func:`write`), under a project root's ``schemas/`` and ``fixtures/examples/``."""

from __future__ import annotations

import os
from pathlib import Path

from mockgraph.build.assemble import EXAMPLE_DIR, SCHEMA_DIR, BuildResult


def check(result: BuildResult, out: Path) -> list[str]:
    """Relative paths under ``out`` that differ from ``result``, are missing, or are stale
    (``*.json`` in the output folders that the build no longer produces). Empty: up to date."""
    differ = [rel for rel, text in result.files.items() if _on_disk(out / rel) != text]
    return sorted(differ + _stale(result, out))


def write(result: BuildResult, out: Path) -> list[str]:
    """Write ``result`` under ``out`` (only files whose text changes, each replaced atomically)
    and delete stale ``*.json`` of ``out/schemas`` and ``out/fixtures/examples``. Returns the
    relative paths written or deleted. ``OSError`` propagates."""
    changed = []
    for rel, text in result.files.items():
        target = out / rel
        if _on_disk(target) == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its files are 0600 and os.replace keeps that mode.
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        try:
            with os.fdopen(os.open(temporary, flags, 0o666), "wb") as stream:
                stream.write(text.encode("utf-8"))
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        changed.append(rel)
    for rel in _stale(result, out):
        (out / rel).unlink()
        changed.append(rel)
    return sorted(changed)


def _on_disk(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _stale(result: BuildResult, out: Path) -> list[str]:
    stale = []
    for folder in (SCHEMA_DIR, EXAMPLE_DIR):
        directory = out / folder
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                rel = f"{folder}/{path.name}"
                if rel not in result.files:
                    stale.append(rel)
    return stale
