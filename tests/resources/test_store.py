"""The generic store, without HTTP: ids in any letter case, conflicts, atomic writes, the
commit hook, ordered pages with cursors, and the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from mockgraph.http.errors import BadRequest, Conflict, InternalError, NotFound
from mockgraph.resources.store import Clock, Store


@dataclass(frozen=True)
class Item:
    id: str
    value: int = 0


def store_of(*ids: str) -> Store[Item]:
    store: Store[Item] = Store("Thing")
    for item_id in ids:
        store.create(Item(item_id))
    return store


def ids(items: Any) -> list[str]:
    return [item.id for item in items]


def test_ids_compare_in_any_letter_case_and_keep_the_case_they_were_created_with() -> None:
    store = store_of("Mixed_Case")
    assert store.get("mixed_CASE").id == "Mixed_Case"
    assert "MIXED_case" in store and "other" not in store and 5 not in store
    store.update("MIXED_CASE", lambda item: Item(item.id, 7))
    assert store.get("Mixed_Case") == Item("Mixed_Case", 7)
    store.delete("mixed_case")
    assert len(store) == 0


def test_a_second_create_of_an_id_in_another_case_conflicts_and_keeps_the_first() -> None:
    store = store_of("a")
    with pytest.raises(Conflict) as caught:
        store.create(Item("A", 1))
    assert caught.value.message == "A thing with id 'A' already exists."
    assert store.get("a") == Item("a") and len(store) == 1


def test_getting_or_deleting_a_missing_item_is_not_found() -> None:
    store = store_of("a")
    with pytest.raises(NotFound) as caught:
        store.get("b")
    assert caught.value.message == "Thing 'b' was not found."
    store.delete("a")
    with pytest.raises(NotFound):
        store.delete("a")


def test_an_update_whose_change_raises_changes_nothing() -> None:
    store = store_of("a")

    def fail(_: Item) -> Item:
        raise BadRequest("no")

    with pytest.raises(BadRequest):
        store.update("a", fail)
    assert list(store) == [Item("a")]


def refusing(calls: list[list[str]]) -> Callable[[Store[Any], Callable[[], list[Any]]], None]:
    def commit(store: Store[Any], after: Callable[[], list[Any]]) -> None:
        calls.append(ids(after()))
        raise InternalError("The state file could not be written.")

    return commit


@pytest.mark.parametrize(
    ("write", "would_be"),
    [
        (lambda s: s.create(Item("c")), ["a", "b", "c"]),
        (lambda s: s.update("b", lambda i: Item("b", 9)), ["a", "b"]),
        (lambda s: s.delete("a"), ["b"]),
        (lambda s: s.load([Item("z")]), ["z"]),
    ],
    ids=["create", "update", "delete", "load"],
)
def test_a_write_the_commit_hook_refuses_leaves_everything_as_it_was(
    write: Callable[[Store[Item]], Any], would_be: list[str]
) -> None:
    store = store_of("b", "a")
    calls: list[list[str]] = []
    store.commit = refusing(calls)
    with pytest.raises(InternalError):
        write(store)
    assert calls == [would_be]  # the hook saw every item as the write would leave them
    assert list(store) == [Item("a"), Item("b")]
    assert store.page(limit=10) == ([Item("a"), Item("b")], False)
    store.commit = None
    store.create(Item("c"))  # the order is intact after a refused write
    assert ids(store) == ["a", "b", "c"]


def test_the_commit_hook_sees_the_write_before_it_takes_effect() -> None:
    store = store_of("a")
    seen: list[tuple[list[str], list[str]]] = []
    store.commit = lambda s, after: seen.append((ids(s), ids(after())))
    store.create(Item("b"))
    assert seen == [(["a"], ["a", "b"])]


def test_load_replaces_everything_and_the_last_of_a_repeated_id_wins() -> None:
    store = store_of("old")
    store.load([Item("b", 1), Item("a"), Item("B", 2)])
    assert list(store) == [Item("a"), Item("B", 2)]


def walk(store: Store[Item], limit: int, **options: Any) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page, more = store.page(after=after, limit=limit, **options)
        seen += ids(page)
        if not more:
            return seen
        after = page[-1].id


def test_pages_walk_every_item_once_in_id_order_in_either_direction() -> None:
    store = store_of("B2C_1A_5", "B2C_1A_3", "b2c_1a_9", "B2C_1A_1", "B2C_1A_7")
    expected = ["B2C_1A_1", "B2C_1A_3", "B2C_1A_5", "B2C_1A_7", "b2c_1a_9"]
    assert walk(store, 2) == expected
    assert walk(store, 2, descending=True) == expected[::-1]
    assert walk(store, 10) == expected


def test_more_is_said_only_when_more_follow() -> None:
    store = store_of("a", "b")
    assert store.page(limit=2) == ([Item("a"), Item("b")], False)
    assert store.page(limit=1) == ([Item("a")], True)
    assert store.page(after="b", limit=1) == ([], False)


def test_a_cursor_is_an_id_in_any_case_and_need_not_exist_any_more() -> None:
    store = store_of("a", "b", "c", "d")
    assert ids(store.page(after="B", limit=5)[0]) == ["c", "d"]
    store.delete("b")
    assert ids(store.page(after="b", limit=5)[0]) == ["c", "d"]
    assert ids(store.page(after="c", limit=5, descending=True)[0]) == ["a"]


def test_items_created_while_paging_after_the_cursor_are_served_once_before_it_never() -> None:
    store = store_of("B2C_1A_0", "B2C_1A_2", "B2C_1A_4", "B2C_1A_6", "B2C_1A_8")
    first, _ = store.page(limit=2)
    store.create(Item("B2C_1A_1"))  # before the cursor: never served
    store.create(Item("B2C_1A_5"))  # after the cursor: served once
    rest, more = store.page(after=first[-1].id, limit=100)
    assert ids(first + rest) == [
        "B2C_1A_0",
        "B2C_1A_2",
        "B2C_1A_4",
        "B2C_1A_5",
        "B2C_1A_6",
        "B2C_1A_8",
    ]
    assert not more


def test_a_prefix_in_any_case_and_a_skip_narrow_a_page_in_either_direction() -> None:
    store = store_of("B2C_1A_ab", "B2C_1A_ac", "B2C_1A_b", "B2C_1A_aa", "B2C_1A_ad", "B2C_1A_")
    page, more = store.page(limit=2, descending=True, prefix="b2c_1a_a", skip=1)
    assert (ids(page), more) == (["B2C_1A_ac", "B2C_1A_ab"], True)
    page, more = store.page(limit=2, prefix="B2C_1A_A", skip=1)
    assert (ids(page), more) == (["B2C_1A_ab", "B2C_1A_ac"], True)
    assert walk(store, 3, prefix="b2c_1a_a") == ["B2C_1A_aa", "B2C_1A_ab", "B2C_1A_ac", "B2C_1A_ad"]
    assert walk(store, 1, prefix="B2C_1A_a", descending=True) == [
        "B2C_1A_ad", "B2C_1A_ac", "B2C_1A_ab", "B2C_1A_aa"
    ]  # fmt: skip
    assert store.page(limit=5, prefix="B2C_1A_z") == ([], False)


def test_concurrent_creates_lose_nothing() -> None:
    store: Store[Item] = Store("Thing")

    def worker(n: int) -> None:
        for i in range(200):
            store.create(Item(f"{n}_{i:03d}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 800
    assert walk(store, 99) == sorted(f"{n}_{i:03d}" for n in range(4) for i in range(200))


def test_the_clock_is_fixed_settable_and_resets_to_its_configuration() -> None:
    clock = Clock(100.0)
    assert clock.now() == 100.0
    clock.set(5.0)
    assert clock.now() == 5.0
    clock.reset()
    assert clock.now() == 100.0
    wall = Clock()
    wall.set(1.0)
    wall.reset()
    assert wall.now() > 1_000_000_000


@pytest.mark.parametrize("twin", ["\u017fIGNING", "\u212aEY", "S\u0130GNING"])
def test_an_id_with_a_unicode_letter_that_folds_to_ascii_names_no_stored_item(twin: str) -> None:
    store = store_of("signing", "key")
    assert twin not in store
    with pytest.raises(NotFound):
        store.get(twin)
    with pytest.raises(NotFound):
        store.delete(twin)
    assert [i.id for i in store] == ["key", "signing"]
