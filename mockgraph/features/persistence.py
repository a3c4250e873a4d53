"""Durable state (``serve --state-file FILE``): the file kept equal to the stores, each write on
disk before it takes effect (the stores' commit hook: a write the file cannot take is a 500 and
changes nothing), and a lock file (``FILE.lock``) that keeps a second server off it."""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from mockgraph.features.atomic import lock_file, write_atomically
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
        #: How many times the file was written.
        self.writes = 0
        self._encoder = Encoder(resources)
        self._lock_file: IO[bytes] | None = None

    def start(self, seed: Items) -> None:
        """Take the file's lock; load the file, or ``seed`` when there is none; write it back
        at once (a folder that cannot be written fails now) and follow the stores. Raises
        :class:`StartupError` naming the file, the lock given back."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self._lock_file = lock_file(lock_path, wait=False)
        except BlockingIOError:
            raise StartupError(
                f"the state file {self.path} is in use by another mockgraph server"
            ) from None
        except OSError as exc:
            raise StartupError(
                f"cannot write the state file {self.path}: its lock file {lock_path.name} "
                f"cannot be made: {exc.strerror}"
            ) from None
        try:
            # Temp files of a write cut off by a crash; the file itself is whole.
            for leftover in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
                with suppress(OSError):
                    leftover.unlink()
            items = load_file(self.path, self.resources) if self.path.exists() else seed
            self._write(items)
        except OSError as exc:
            self.close()
            raise StartupError(f"cannot write the state file {self.path}: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise
        for name, store in self.stores.items():
            store.load(items.get(name, ()))
            store.commit = self.commit

    def commit(self, store: Store[Any], after: Callable[[], list[Any]]) -> None:
        """The stores' commit hook: the file as ``store`` will be after its write, on disk
        before the write takes effect. Raises :class:`InternalError` when it cannot be."""
        items = {name: after() if s is store else list(s) for name, s in self.stores.items()}
        try:
            self._write(items)
        except OSError as exc:
            log.error("could not write the state file %s: %s", self.path, exc)
            # A write can fail after the new file replaced the old (the folder's fsync): put
            # the file back as the stores still are, if the disk lets us.
            try:
                self._write({name: list(s) for name, s in self.stores.items()})
            except OSError as again:
                log.error("could not restore the state file %s: %s", self.path, again)
            raise InternalError(
                "The change could not be written to the state file; nothing changed."
            ) from None

    def _write(self, items: Items) -> None:
        write_atomically(self.path, self._encoder.pieces(items))
        self.writes += 1

    def close(self) -> None:
        """Give the file's lock back."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
