"""Files written whole or not at all, and held by one process at a time: the one way mockgraph
writes a file that must never be seen torn (state files, recordings, its certificate authority),
and the lock that keeps a second process off a file another one owns."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


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


def lock_file(path: Path, *, wait: bool) -> IO[bytes]:
    """An exclusive lock on ``path`` (created if missing), held while the returned file is
    open. Without ``wait``, a lock another process holds raises ``BlockingIOError``."""
    handle = open(path, "a+b")  # noqa: SIM115 - the caller holds it open
    try:
        if sys.platform == "win32":
            import msvcrt

            mode = msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK
            msvcrt.locking(handle.fileno(), mode, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as exc:
        handle.close()
        raise BlockingIOError(str(exc)) from None
    return handle


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` inside the block, waiting for it if need be."""
    handle = lock_file(path, wait=True)
    try:
        yield
    finally:
        handle.close()
