"""Files written whole or not at all, and held by one process at a time: how mockgraph writes
state files, recordings and its certificate authority, and the lock that keeps a second process
off a file another one owns."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import IO


def write_atomically(path: Path, text: str | Iterable[str]) -> None:
    """Replace ``path`` with ``text`` (UTF-8; a string or its pieces) so that a crash leaves
    the old or the new content: a temp file of the same folder (owner-only), ``fsync``-ed,
    renamed over ``path``, then the folder ``fsync``-ed. Raises ``OSError`` (the old file is
    then untouched and the temp file removed)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.writelines([text] if isinstance(text, str) else text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.remove(temp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    # A rename is durable once the folder's entry is on disk (POSIX); Windows cannot open a
    # folder as a file, and NTFS journals the rename itself.
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

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as exc:
        handle.close()
        raise BlockingIOError(str(exc)) from None
    return handle
