"""Durable state (``mockgraph serve --state-file FILE``): the key sets loaded from the file at
start and the file kept current after every write, atomically, before the write is answered.

How a write becomes durable: the store calls :meth:`Persistence.changed` under its lock after
each write. Inside a request of this app, that only notes the store version the request
produced; an ``after_request`` hook then waits until a snapshot at least that new is on disk
(:meth:`Persistence.sync`), so the answer is sent only once its change is persisted
(acknowledged == persisted). Concurrent writers share one file write ("group commit"): one
thread writes the newest snapshot while the others wait for it. Writes outside a request
(seeding from Python, a reset of the live server) are written at once, under the store lock.

Every write replaces the whole file: the state in a temp file of the same folder, flushed and
``fsync``-ed, ``os.replace``-d over the old one, then the folder ``fsync``-ed. A ``kill -9`` at any
moment leaves the old file or the new one, never a torn one. The file is in the format of
:mod:`mockgraph.statefile` (``--state`` loads it too), one key set per line: key sets are
immutable and swapped whole, so only those that changed since the last write are encoded again,
and a write costs one pass over the store plus the file write itself, which grows with the
store (``benchmarks/bench_persistence.py`` measures it). The encoded lines are kept between
writes: about the size of the file again in memory. One server owns a state file at a time.
"""

from __future__ import annotations

import glob
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, current_app, g, has_request_context

from mockgraph.features.atomic import remove_quietly, write_atomically
from mockgraph.features.statefile import TOP, load_state
from mockgraph.http.errors import InternalError, StartupError
from mockgraph.resources.keysets.models import KeySet
from mockgraph.resources.keysets.store import Store
from mockgraph.state import EXTENSION, MockGraph

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals

SERVICE = "persistence"
log = logging.getLogger("mockgraph")

#: ``g`` attribute: the newest store version a request of this app has produced.
_PENDING = "persistence_version"


class Encoder:
    """The state file text of a snapshot, encoding again only the key sets that are not the very
    objects encoded last time. Not thread-safe: one writer at a time."""

    def __init__(self) -> None:
        self._lines: dict[str, tuple[KeySet, str]] = {}

    def encode(self, keysets: Sequence[KeySet]) -> str:
        """The whole text (see :meth:`pieces`)."""
        return "".join(self.pieces(keysets))

    def pieces(self, keysets: Sequence[KeySet]) -> list[str]:
        """The text in pieces, to write without joining them into one big string first."""
        lines: dict[str, tuple[KeySet, str]] = {}
        for keyset in keysets:
            known = self._lines.get(keyset.id)
            if known is None or known[0] is not keyset:
                text = json.dumps(keyset.to_state(), ensure_ascii=False, separators=(",", ":"))
                known = (keyset, text)
            lines[keyset.id] = known
        self._lines = lines  # key sets deleted since the last write are dropped here
        if not lines:
            return [f'{{"{TOP}": []}}\n']
        pieces = [f'{{"{TOP}": [\n']
        for _, text in lines.values():
            pieces += (text, ",\n")
        pieces[-1] = "\n]}\n"
        return pieces


def _answering_for(store: Store) -> bool:
    """Whether the request being handled belongs to the app that owns ``store``."""
    bundle = current_app.extensions.get(EXTENSION)
    return isinstance(bundle, MockGraph) and bundle.store is store


class Persistence:
    """Keeps ``path`` equal to the state of ``store`` as of its last acknowledged write."""

    def __init__(self, store: Store, path: Path) -> None:
        self.store = store
        self.path = path
        #: The newest store version known to be on disk.
        self.durable_version = -1
        #: How many times the file was written (for tests and benchmarks).
        self.writes = 0
        self._io = threading.Lock()  # one file write at a time
        self._cond = threading.Condition()  # guards durable_version and _flushing
        self._flushing = False
        self._encoder = Encoder()

    # -- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the file if it exists (else keep what the store holds, e.g. ``--state``), write
        it back at once (so a folder that cannot be written fails now, not at the first write)
        and follow the store. Raises :class:`StartupError` with the file and the problem."""
        for leftover in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            remove_quietly(leftover)  # a write cut off by a crash; the file itself is whole
        if self.path.exists():
            self.store.load(load_state(self.path))
        try:
            self._write(self.store.version, list(self.store))
        except OSError as exc:
            raise StartupError(f"cannot write the state file {self.path}: {exc.strerror}") from None
        self.store.subscribe(self.changed)

    # -- following the store -----------------------------------------------------------------
    def changed(self, store: Store) -> None:
        """The store's listener, called under its lock after each write."""
        if has_request_context() and _answering_for(store):
            setattr(g, _PENDING, store.version)
            return
        # Not answering a request of this app: nothing to defer to, so write now.
        self._write(store.version, list(store))

    def sync(self, version: int) -> None:
        """Return once a snapshot of version ``version`` or newer is on disk. Raises
        ``OSError`` when the file cannot be written (the change then stays in memory only)."""
        with self._cond:
            while self.durable_version < version:
                if not self._flushing:
                    self._flushing = True
                    break
                self._cond.wait()
            else:
                return
        try:
            # Read the version before the snapshot: the snapshot holds at least that much.
            newest = self.store.version
            self._write(newest, list(self.store))
        finally:
            with self._cond:
                self._flushing = False
                self._cond.notify_all()

    def _write(self, version: int, keysets: Sequence[KeySet]) -> None:
        with self._io:
            if version <= self.durable_version:
                return
            write_atomically(self.path, self._encoder.pieces(keysets))
            self.writes += 1
            with self._cond:
                self.durable_version = max(self.durable_version, version)
                self._cond.notify_all()

    def after_request(self, req: Request, facts: _AppCtxGlobals, response: Response) -> Response:
        """Hold the answer of a write until its change is durable; if it cannot be, answer
        500 instead (the client must not believe the write was kept)."""
        version = facts.pop(_PENDING, None)
        if version is None:
            return response
        try:
            self.sync(version)
        except OSError as exc:
            log.error("could not write the state file %s: %s", self.path, exc)
            from mockgraph.app import render_error  # the one renderer; app imports this module

            failed = render_error(
                InternalError(
                    "The change was made in memory but could not be written to the state file."
                )
            )
            for name in ("request-id", "client-request-id"):
                if name in response.headers:
                    failed.headers[name] = response.headers[name]
            return failed
        return response


def install(app: Flask, state: MockGraph) -> None:
    """With ``Config.state_file`` set: load it, keep it current, and hold each write's answer
    until the write is durable. Without it: nothing."""
    path = state.config.state_file
    if path is None:
        return
    persistence = Persistence(state.store, Path(path))
    persistence.start()
    state.services[SERVICE] = persistence
    state.after.append(persistence.after_request)
