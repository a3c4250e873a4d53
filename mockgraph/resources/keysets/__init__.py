"""Azure AD B2C policy keys: ``/trustFramework/keySets``."""

from __future__ import annotations

from typing import Any

from mockgraph.http.routing import Resource
from mockgraph.resources.keysets.models import KeySet
from mockgraph.resources.keysets.operations import OPERATIONS
from mockgraph.resources.keysets.schemas import parse_state
from mockgraph.resources.store import Store


def _new_store(lock: Any) -> Store[KeySet]:
    return Store("Key set", lock)


def _dump(item: Any) -> dict[str, Any]:
    keyset: KeySet = item
    return keyset.to_state()


KEYSETS = Resource(
    name="keySets",
    operations=OPERATIONS,
    new_store=_new_store,
    parse_state=parse_state,
    dump_state=_dump,
)
