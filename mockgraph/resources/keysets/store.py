"""The only mutable state of a mockgraph app: the key sets, kept in memory behind one lock.

Key set ids compare case-insensitively (as Azure AD B2C treats policy-key names) and keep the
case they were created with. Ids are also kept sorted, so a page of the list costs
``O(log n + page)`` however many key sets are stored (issue 3, point 10).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mockgraph.http.errors import Conflict, NotFound
from mockgraph.resources.keysets.models import KeySet

Listener = Callable[["Store"], None]


def id_key(keyset_id: str) -> str:
    """The comparison key of an id: ids differing only in case are the same key set."""
    return keyset_id.casefold()


class Store:
    """Key sets by id, thread-safe. Values are immutable :class:`KeySet` objects swapped whole,
    so a reader never sees a half-applied write."""

    def __init__(self, clock: float | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, KeySet] = {}
        self._order: list[str] = []
        self._fixed_clock = clock
        self._clock = clock
        self._listeners: list[Listener] = []
        #: Bumped on every write; lets persistence skip work when nothing changed.
        self.version = 0

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        """The mock's "now" in seconds since the epoch: the set clock, else the wall clock."""
        clock = self._clock
        return time.time() if clock is None else clock

    def set_clock(self, now: float | None) -> None:
        """Freeze the clock at ``now``; ``None`` returns to the wall clock."""
        self._clock = now

    # -- reads -------------------------------------------------------------------------------
    def get(self, keyset_id: str) -> KeySet:
        """The key set; raises :class:`NotFound`."""
        found = self._items.get(id_key(keyset_id))
        if found is None:
            raise NotFound(f"Key set '{keyset_id}' was not found.")
        return found

    def __contains__(self, keyset_id: object) -> bool:
        return isinstance(keyset_id, str) and id_key(keyset_id) in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[KeySet]:
        with self._lock:
            return iter([self._items[k] for k in self._order])

    def page(
        self,
        *,
        after: str | None = None,
        limit: int,
        descending: bool = False,
        prefix: str | None = None,
        skip: int = 0,
    ) -> tuple[list[KeySet], bool]:
        """Up to ``limit`` key sets in id order strictly after the cursor ``after`` (an id),
        optionally only ids starting with ``prefix`` (case-insensitive), the first ``skip`` of
        them passed over. Returns the page and
        whether more follow. Items created while a client pages appear once if they sort after
        its cursor; none is ever returned twice."""
        with self._lock:
            order = self._order
            pfx = id_key(prefix) if prefix else ""
            if not descending:
                start = bisect.bisect_right(order, id_key(after)) if after is not None else 0
                if pfx:
                    start = max(start, bisect.bisect_left(order, pfx))
                start += skip
                keys: list[str] = []
                i = start
                while i < len(order) and len(keys) <= limit:
                    k = order[i]
                    if pfx and not k.startswith(pfx):
                        break
                    keys.append(k)
                    i += 1
            else:
                end = bisect.bisect_left(order, id_key(after)) if after is not None else len(order)
                if pfx:
                    end = min(end, bisect.bisect_left(order, pfx + "\U0010ffff"))
                end -= skip
                keys = []
                i = end - 1
                while i >= 0 and len(keys) <= limit:
                    k = order[i]
                    if pfx and not k.startswith(pfx):
                        break
                    keys.append(k)
                    i -= 1
            more = len(keys) > limit
            return [self._items[k] for k in keys[:limit]], more

    def count(self, prefix: str | None = None) -> int:
        """How many key sets there are (with ids starting with ``prefix``)."""
        with self._lock:
            if not prefix:
                return len(self._order)
            pfx = id_key(prefix)
            lo = bisect.bisect_left(self._order, pfx)
            hi = bisect.bisect_left(self._order, pfx + "\U0010ffff")
            return hi - lo

    # -- writes ------------------------------------------------------------------------------
    def create(self, keyset: KeySet) -> KeySet:
        """Add a new key set; raises :class:`Conflict` (and changes nothing) if the id exists."""
        key = id_key(keyset.id)
        with self._lock:
            if key in self._items:
                raise Conflict(f"A key set with id '{keyset.id}' already exists.")
            self._items[key] = keyset
            bisect.insort(self._order, key)
            self._changed()
        return keyset

    def update(self, keyset_id: str, change: Callable[[KeySet], KeySet]) -> KeySet:
        """Atomically replace a key set with ``change(current)``. If ``change`` raises, nothing
        changes. Raises :class:`NotFound`."""
        key = id_key(keyset_id)
        with self._lock:
            current = self._items.get(key)
            if current is None:
                raise NotFound(f"Key set '{keyset_id}' was not found.")
            new = change(current)
            self._items[key] = new
            self._changed()
        return new

    def delete(self, keyset_id: str) -> None:
        """Remove a key set; raises :class:`NotFound`."""
        key = id_key(keyset_id)
        with self._lock:
            if key not in self._items:
                raise NotFound(f"Key set '{keyset_id}' was not found.")
            del self._items[key]
            del self._order[bisect.bisect_left(self._order, key)]
            self._changed()

    def load(self, keysets: Iterable[KeySet]) -> None:
        """Replace everything with ``keysets`` (duplicate ids: the last wins)."""
        items = {id_key(k.id): k for k in keysets}
        with self._lock:
            self._items = items
            self._order = sorted(items)
            self._changed()

    def reset(self) -> None:
        """Empty the store and return the clock to its configured value."""
        with self._lock:
            self._items = {}
            self._order = []
            self._clock = self._fixed_clock
            self._changed()

    def dump(self) -> list[dict[str, Any]]:
        """Every key set with every member (secrets included): for state files, never answers."""
        with self._lock:
            items = [self._items[k] for k in self._order]
        # Outside the lock (the values are immutable): a dump of 100,000 key sets must not
        # hold up every write meanwhile.
        return [item.to_state() for item in items]

    # -- observers ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(store)`` after every write, under the store's lock."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.version += 1
        for listener in self._listeners:
            listener(self)
