"""Azure AD B2C policy keys: ``/trustFramework/keySets``."""

from __future__ import annotations

from functools import partial

from mockgraph.http.routing import Resource
from mockgraph.resources.keysets import examples
from mockgraph.resources.keysets.models import KEYSET_ID_PATTERN, KeySet
from mockgraph.resources.keysets.operations import OPERATIONS
from mockgraph.resources.keysets.schemas import parse_state
from mockgraph.resources.store import Store

KEYSETS = Resource(
    name="keySets",
    operations=OPERATIONS,
    new_store=partial(Store, "Key set"),
    parse_state=parse_state,
    dump_state=KeySet.to_state,
    id_schema={
        "description": "letters, digits, '_', '.' and '-', 1 to 256 of them",
        "pattern": KEYSET_ID_PATTERN,
        "type": "string",
    },
    # The pages spell kty RSA/rsa and oct/OCT (the key page vs generateKey and the uploads).
    case_insensitive=frozenset({"kty"}),
    example_item=examples.addressed,
)
