"""The store, without HTTP: ids, conflicts, atomic updates, ordered pages, the clock."""

from __future__ import annotations

import threading

import pytest

from mockgraph.http.errors import BadRequest, Conflict, NotFound
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.resources.keysets.store import Store


def ks(name: str, *keys: Key) -> KeySet:
    return KeySet(id=name, keys=tuple(keys))


def test_create_then_get_is_case_insensitive_and_keeps_case() -> None:
    store = Store()
    store.create(ks("B2C_1A_Mixed"))
    assert store.get("b2c_1a_mixed").id == "B2C_1A_Mixed"


def test_duplicate_create_conflicts_and_leaves_the_first() -> None:
    store = Store()
    store.create(ks("B2C_1A_a", Key(kid="one")))
    with pytest.raises(Conflict):
        store.create(ks("B2C_1A_A"))
    assert store.get("B2C_1A_a").keys == (Key(kid="one"),)
    assert len(store) == 1


def test_get_missing_raises_not_found() -> None:
    with pytest.raises(NotFound):
        Store().get("B2C_1A_nope")


def test_update_that_raises_changes_nothing() -> None:
    store = Store()
    store.create(ks("B2C_1A_a", Key(kid="one")))

    def fail(_: KeySet) -> KeySet:
        raise BadRequest("no")

    version = store.version
    with pytest.raises(BadRequest):
        store.update("B2C_1A_a", fail)
    assert store.get("B2C_1A_a").keys == (Key(kid="one"),)
    assert store.version == version


def test_delete_twice_raises_not_found() -> None:
    store = Store()
    store.create(ks("B2C_1A_a"))
    store.delete("B2C_1A_a")
    with pytest.raises(NotFound):
        store.delete("B2C_1A_a")
    assert len(store) == 0


def test_pages_walk_every_item_once_in_id_order() -> None:
    store = Store()
    for i in (5, 3, 9, 1, 7):
        store.create(ks(f"B2C_1A_{i}"))
    seen: list[str] = []
    after = None
    while True:
        page, more = store.page(after=after, limit=2)
        seen += [k.id for k in page]
        if not more:
            break
        after = page[-1].id
    assert seen == ["B2C_1A_1", "B2C_1A_3", "B2C_1A_5", "B2C_1A_7", "B2C_1A_9"]


def test_items_created_while_paging_are_served_at_most_once() -> None:
    store = Store()
    for i in range(0, 10, 2):
        store.create(ks(f"B2C_1A_{i}"))
    first, _ = store.page(limit=2)
    store.create(ks("B2C_1A_1"))  # before the cursor: never served
    store.create(ks("B2C_1A_5"))  # after the cursor: served once
    rest, more = store.page(after=first[-1].id, limit=100)
    ids = [k.id for k in first + rest]
    assert ids == ["B2C_1A_0", "B2C_1A_2", "B2C_1A_4", "B2C_1A_5", "B2C_1A_6", "B2C_1A_8"]
    assert not more


def test_descending_pages_with_prefix_and_skip() -> None:
    store = Store()
    for name in ("B2C_1A_ab", "B2C_1A_ac", "B2C_1A_b", "B2C_1A_aa", "B2C_1A_ad"):
        store.create(ks(name))
    page, more = store.page(limit=2, descending=True, prefix="b2c_1a_a", skip=1)
    assert [k.id for k in page] == ["B2C_1A_ac", "B2C_1A_ab"]
    assert more
    assert store.count("B2C_1A_a") == 4


def test_reset_empties_and_restores_the_configured_clock() -> None:
    store = Store(clock=100.0)
    store.create(ks("B2C_1A_a"))
    store.set_clock(5.0)
    store.reset()
    assert len(store) == 0
    assert store.now() == 100.0


def test_dump_then_load_round_trips_secrets() -> None:
    store = Store()
    store.create(ks("B2C_1A_a", Key(kid="x", kty="oct", k="secret", x5c=("c",))))
    copy = Store()
    copy.load(KeySet.from_state(item) for item in store.dump())
    assert copy.get("B2C_1A_a") == store.get("B2C_1A_a")


def test_concurrent_creates_lose_nothing() -> None:
    store = Store()

    def worker(n: int) -> None:
        for i in range(200):
            store.create(ks(f"B2C_1A_{n}_{i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 800
    assert store.count() == 800
