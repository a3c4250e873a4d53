"""Durable state (``mockgraph serve --state-file FILE``): the items loaded from the file at start,
and the file kept equal to the stores: every write is on disk before it takes effect.

The file is written by the stores' commit hook, under their lock, before the write is applied in
memory: if the file cannot be written the write is refused (500) and nothing changed, in memory
or on disk. Each write replaces the whole file atomically (``features.atomic``), one item per
line, encoding again only the items that changed. One server owns a state file: a lock file
beside it (``FILE.lock``) refuses a second one.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from mockgraph.features.atomic import lock_file, remove_quietly, write_atomically
from mockgraph.features.statefile import Encoder, Items, load_file
from mockgraph.http.errors import InternalError, StartupError
from mockgraph.http.routing import Resource
from mockgraph.resources.store import Store

log = logging.getLogger("mockgraph")


class Persistence:
    """Keeps ``path`` equal to ``stores`` (by resource name) as of their last write."""

    def __init__(
        self, path: Path, resources: Sequence[Resource], stores: dict[str, Store[Any]]
    ) -> None:
        self.path = path
        self.resources = resources
        self.stores = stores
        #: How many times the file was written (for tests and benchmarks).
        self.writes = 0
        self._encoder = Encoder(resources)
        self._lock_file: IO[bytes] | None = None

    def start(self, seed: Items) -> Items:
        """Take the file's lock, load the file when it exists (else start from ``seed``, the
        ``--state`` items), write it back at once (a folder that cannot be written fails now)
        and follow the stores. Returns the items loaded. Raises :class:`StartupError` naming
        the file and the problem, the lock given back."""
        self._lock_file = _lock(self.path)
        try:
            items = self._load(seed)
        except BaseException:
            self.close()
            raise
        for name, store in self.stores.items():
            store.load(items.get(name, ()))
            store.commit = self.commit
        return items

    def _load(self, seed: Items) -> Items:
        for leftover in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            remove_quietly(leftover)  # a write cut off by a crash; the file itself is whole
        items = load_file(self.path, self.resources) if self.path.exists() else seed
        try:
            self._write(items)
        except OSError as exc:
            raise StartupError(f"cannot write the state file {self.path}: {exc.strerror}") from None
        return items

    def commit(self, store: Store[Any], after: Callable[[], list[Any]]) -> None:
        """The stores' commit hook: the file as ``store`` will be after its write, on disk
        before the write takes effect; a write that cannot be made durable is refused."""
        items = {
            name: after() if other is store else list(other) for name, other in self.stores.items()
        }
        try:
            self._write(items)
        except OSError as exc:
            log.error("could not write the state file %s: %s", self.path, exc)
            self._restore()
            raise InternalError(
                "The change could not be written to the state file; nothing changed."
            ) from None

    def _restore(self) -> None:
        """After a failed write, the file as the stores still are: a write can fail after the
        new file replaced the old (the folder's ``fsync``), and the refused write must not stay
        on disk. Best effort: a disk that refused one write may refuse this one too."""
        try:
            self._write({name: list(store) for name, store in self.stores.items()})
        except OSError as exc:
            log.error("could not restore the state file %s: %s", self.path, exc)

    def _write(self, items: Items) -> None:
        write_atomically(self.path, self._encoder.pieces(items))
        self.writes += 1

    def close(self) -> None:
        """Give the file's lock back."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _lock(path: Path) -> IO[bytes]:
    """An exclusive lock on ``path.lock``, held while the returned file is open."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        return lock_file(lock_path, wait=False)
    except BlockingIOError:
        raise StartupError(f"the state file {path} is in use by another mockgraph server") from None
    except OSError as exc:
        raise StartupError(
            f"cannot write the state file {path}: its lock file {lock_path.name} cannot be "
            f"made: {exc.strerror}"
        ) from None
