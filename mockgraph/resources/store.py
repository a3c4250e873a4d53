"""The only mutable state of a mockgraph app: each resource's items in memory, and the clock.

A :class:`Store` keeps immutable items (anything with an ``id``) swapped whole, so a reader never
sees half a write. Ids compare case-insensitively (as B2C treats policy-key names) and keep the
case they were created with; they are kept sorted, so a page costs ``O(log n + page)``. The
``commit`` hook (durable state writes the file there) runs before each write takes effect and
may refuse it by raising, so a write whose answer is an error changes nothing.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from mockgraph.http.errors import Conflict, NotFound


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)
#: Called under the lock before a write takes effect, with a function giving every item in id
#: order as the write would leave them; raising refuses the write.
Commit = Callable[["Store[Any]", Callable[[], list[Any]]], None]


def id_key(item_id: str) -> str:
    """The comparison key of an id: ids differing only in ASCII letter case are the same item.
    Ids are ASCII; one that is not is kept as it is, so that no Unicode folding (``ſ`` is
    ``s``, the Kelvin sign ``k``) makes it name a stored one."""
    return item_id.lower() if item_id.isascii() else item_id


class Clock:
    """The mock's "now": a fixed time (settable through the control API) or the wall clock."""

    def __init__(self, fixed: float | None = None) -> None:
        self._configured = self._fixed = fixed

    def now(self) -> float:
        fixed = self._fixed
        return time.time() if fixed is None else fixed

    def set(self, now: float | None) -> None:
        """Freeze the clock at ``now``; ``None`` returns to the wall clock."""
        self._fixed = now

    def reset(self) -> None:
        self._fixed = self._configured


class Store(Generic[T]):
    """Items by id, thread-safe. ``kind`` names an item in messages ("Key set")."""

    def __init__(self, kind: str, lock: threading.RLock | None = None) -> None:
        self.kind = kind
        self.lock = lock or threading.RLock()
        self._items: dict[str, T] = {}
        self._order: list[str] = []
        self.commit: Commit | None = None

    def get(self, item_id: str) -> T:
        """The item; raises :class:`NotFound`."""
        found = self._items.get(id_key(item_id))
        if found is None:
            raise NotFound(f"{self.kind} '{item_id}' was not found.")
        return found

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and id_key(item_id) in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        with self.lock:
            return iter([self._items[k] for k in self._order])

    def page(
        self,
        *,
        after: str | None = None,
        limit: int,
        descending: bool = False,
        prefix: str | None = None,
        skip: int = 0,
    ) -> tuple[list[T], bool]:
        """Up to ``limit`` items in id order strictly after the id ``after``, only ids starting
        with ``prefix`` (any case) if given, the first ``skip`` passed over; and whether more
        follow. An item created while a client pages appears once if it sorts after its
        cursor; none is ever returned twice."""
        with self.lock:
            order, pfx = self._order, id_key(prefix or "")
            low = bisect.bisect_left(order, pfx)
            high = bisect.bisect_left(order, pfx + "\U0010ffff") if pfx else len(order)
            if after is not None and descending:
                high = min(high, bisect.bisect_left(order, id_key(after)))
            elif after is not None:
                low = max(low, bisect.bisect_right(order, id_key(after)))
            places = range(high - 1 - skip, low - 1, -1) if descending else range(low + skip, high)
            keys = [order[i] for i in places[: limit + 1]]
            return [self._items[k] for k in keys[:limit]], len(keys) > limit

    def create(self, item: T) -> T:
        """Add a new item; raises :class:`Conflict` (and changes nothing) if the id exists."""
        key = id_key(item.id)
        with self.lock:
            if key in self._items:
                raise Conflict(f"A {self.kind.lower()} with id '{item.id}' already exists.")
            self._write(key, item)
        return item

    def update(self, item_id: str, change: Callable[[T], T]) -> T:
        """Replace an item with ``change(current)``, atomically: if ``change`` (or the commit)
        raises, nothing changes. Raises :class:`NotFound`."""
        with self.lock:
            new = change(self.get(item_id))
            self._write(id_key(item_id), new)
        return new

    def delete(self, item_id: str) -> None:
        """Remove an item; raises :class:`NotFound`."""
        with self.lock:
            self.get(item_id)
            self._write(id_key(item_id), None)

    def load(self, items: Iterable[T]) -> None:
        """Replace everything with ``items`` (for a repeated id, the last wins)."""
        by_key = {id_key(i.id): i for i in items}
        order = sorted(by_key)
        with self.lock:
            if self.commit is not None:
                self.commit(self, lambda: [by_key[k] for k in order])
            self._items, self._order = by_key, order

    def _write(self, key: str, item: T | None) -> None:
        """Put ``item`` at ``key`` (``None``: remove it), once the commit hook agreed."""
        if self.commit is not None:
            self.commit(self, lambda: self._after(key, item))
        if item is None:
            del self._items[key]
            del self._order[bisect.bisect_left(self._order, key)]
            return
        if key not in self._items:
            bisect.insort(self._order, key)
        self._items[key] = item

    def _after(self, key: str, item: T | None) -> list[T]:
        """Every item in id order as the write of ``item`` at ``key`` would leave them."""
        order = [k for k in self._order if k != key]
        if item is not None:
            bisect.insort(order, key)
        return [item if k == key and item is not None else self._items[k] for k in order]
