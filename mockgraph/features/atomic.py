"""Atomic file replacement: the one way mockgraph writes a file that must never be seen torn
(the state file, ``--state-file``'s durable state, recorded examples)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


def write_atomically(path: Path, text: str | Iterable[str]) -> None:
    """Replace ``path`` with ``text`` (UTF-8; a string or its pieces in order) so that a crash
    leaves the old or the new content: a temp file of the same folder (readable by its owner
    only), flushed and ``fsync``-ed, ``os.replace``-d over ``path``, then the folder
    ``fsync``-ed. Raises ``OSError`` (the old file is then untouched and the temp file
    removed)."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks([text] if isinstance(text, str) else text):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        remove_quietly(Path(temp))
        raise
    _fsync_directory(folder)


def remove_quietly(path: Path) -> None:
    """Remove ``path`` if it can be removed; a file that stays is no error."""
    try:
        path.unlink()
    except OSError:
        pass


def _chunks(pieces: Iterable[str], size: int = 1 << 20) -> Iterator[bytes]:
    """UTF-8 of ``pieces`` in chunks of about ``size`` characters: few system calls without
    one copy of the whole file in memory (many small writes cost more than the encoding)."""
    batch: list[str] = []
    length = 0
    for piece in pieces:
        batch.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(batch).encode("utf-8")
            batch, length = [], 0
    if batch:
        yield "".join(batch).encode("utf-8")


def _fsync_directory(folder: Path) -> None:
    # The rename is only durable once the folder's entry is on disk (POSIX). Windows cannot
    # open a folder as a file; NTFS journals the rename itself.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
