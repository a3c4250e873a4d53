"""The views of ``/trustFramework/keySets``: each reads its call, asks the store and renders the
answer; each refusal is a raised GraphError, each write the store's last step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Response

from mockgraph.http import odata
from mockgraph.http.errors import BadRequest, NotFound
from mockgraph.http.rendering import context_url, entity_location, json_response, no_content
from mockgraph.http.routing import Call
from mockgraph.resources.keysets import keys as material
from mockgraph.resources.keysets.models import Key, KeySet, key_problems, with_prefix
from mockgraph.resources.store import Store, id_key

COLLECTION = "/trustFramework/keySets"
KEY_CONTEXT = "microsoft.graph.trustFrameworkKey"


def keysets(call: Call) -> Store[KeySet]:
    """The key sets of the call's app."""
    return call.mock.stores["keySets"]


def _query(call: Call, default_top: int = 100, max_top: int = 999) -> odata.Query:
    """The call's query options, as its operation declares them."""
    return odata.parse_query(
        call.args,
        supported=call.operation.query,
        selectable=call.operation.select,
        type_name="microsoft.graph.trustFrameworkKeySet",
        default_top=default_top,
        max_top=max_top,
    )


def _readable(item: KeySet, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A key set's readable members (no secrets), only the ``select``-ed ones if given."""
    members = {"id": item.id, "keys": [key.public() for key in item.keys]}
    return {k: v for k, v in members.items() if k in select} if select else members


def _context(call: Call, select: tuple[str, ...] | None, suffix: str = "") -> dict[str, str]:
    fragment = COLLECTION[1:] + (f"({','.join(select)})" if select else "") + suffix
    return {"@odata.context": context_url(call.root, fragment)}


def _entity(call: Call, item: KeySet, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {**_context(call, select, "/$entity"), **_readable(item, select)}


def create_keyset(call: Call) -> Response:
    created = keysets(call).create(call.body)
    location = entity_location(COLLECTION, created.id)
    return json_response(_entity(call, created), 201, {"Location": location})


def list_keysets(call: Call) -> Response:
    config, store = call.mock.config, keysets(call)
    query = _query(call, config.default_page_size, config.max_page_size)
    if query.filter_eq is not None:
        found = [store.get(query.filter_eq)] if query.filter_eq in store else []
        items = (found if query.after is None else [])[query.skip : query.skip + query.top]
        more = False
    else:
        items, more = store.page(
            after=query.after,
            limit=query.top,
            descending=query.descending,
            prefix=query.filter_prefix,
            skip=query.skip,
        )
    body: dict[str, Any] = {
        **_context(call, query.select),
        "value": [_readable(item, query.select) for item in items],
    }
    if more and items:
        link = odata.next_link(call.root + COLLECTION, query, last_id=items[-1].id)
        body["@odata.nextLink"] = link
    return json_response(body)


def count_keysets(call: Call) -> Response:
    raise BadRequest(odata.NO_COUNT)  # the $count segment, as $count=true


def get_keyset(call: Call) -> Response:
    select = _query(call).select
    return json_response(_entity(call, keysets(call).get(call.params["id"]), select))


def update_keyset(call: Call) -> Response:
    # The update page says PUT ("replaces the content"); the official OpenAPI and SDK send
    # PATCH. Both replace `keys`; only a PATCH without `keys` leaves them as they are.
    keysets(call).get(call.params["id"])
    update = call.body

    def change(current: KeySet) -> KeySet:
        new_id = update.get("id")
        if new_id is not None and id_key(with_prefix(new_id)) != id_key(current.id):
            raise BadRequest(
                f"The id '{new_id}' in the body does not match the key set '{current.id}' of the "
                "URL."
            )
        if update["keys"] is None:
            return current if call.method == "PATCH" else KeySet(current.id)
        return KeySet(current.id, update["keys"])

    return json_response(_entity(call, keysets(call).update(call.params["id"], change)))


def delete_keyset(call: Call) -> Response:
    keysets(call).delete(call.params["id"])
    return no_content()


def _add_key(call: Call, make: Callable[..., Key]) -> Response:
    """Add ``make(**body)`` (the body's members are the action's parameters) to the key set,
    once the set is known to exist and the body is read; a key that breaks a rule of the set
    (a kid it already has) is refused."""
    keysets(call).get(call.params["id"])
    key = make(**call.body)

    def change(current: KeySet) -> KeySet:
        problem = key_problems((*current.keys, key))
        if problem is not None and problem[1] == "kid":
            raise BadRequest(f"The key set '{current.id}' already has a key with this kid.")
        if problem is not None:
            raise BadRequest(f"The new key's '{problem[1]}' {problem[2]}.")
        return KeySet(current.id, (*current.keys, key))

    keysets(call).update(call.params["id"], change)
    return json_response({"@odata.context": context_url(call.root, KEY_CONTEXT), **key.public()})


def _generated(kty: str, use: str, nbf: int | None, exp: int | None) -> Key:
    generate = material.generate_rsa if kty == "RSA" else material.generate_oct
    return generate(use, nbf, exp)


def generate_key(call: Call) -> Response:
    return _add_key(call, _generated)


def upload_secret(call: Call) -> Response:
    return _add_key(call, material.secret_key)


def upload_certificate(call: Call) -> Response:
    return _add_key(call, material.certificate_key)


def upload_pkcs12(call: Call) -> Response:
    return _add_key(call, material.pkcs12_key)


def get_active_key(call: Call) -> Response:
    keyset = keysets(call).get(call.params["id"])
    now = call.mock.clock.now()
    active = [(k.nbf or float("-inf"), i) for i, k in enumerate(keyset.keys) if k.is_active_at(now)]
    if not active:
        # Undocumented; the active key is then a resource that does not exist (README).
        raise NotFound(f"Key set '{keyset.id}' has no active key.")
    newest = keyset.keys[max(active)[1]]
    return json_response({"@odata.context": context_url(call.root, KEY_CONTEXT), **newest.public()})


def _v2(key: Key) -> dict[str, Any]:
    # The trustFrameworkKey_v2 resource page is not among the docs: a v2 key is the v1 key's
    # readable members plus `status` (enabled unless disabled).
    return {**key.public(), "status": key.status or "enabled"}


def _index(keyset: KeySet, kid: str) -> int:
    for index, key in enumerate(keyset.keys):
        if key.kid == kid:
            return index
    raise NotFound(f"Key '{kid}' was not found in key set '{keyset.id}'.")


def list_keys_v2(call: Call) -> Response:
    keyset = keysets(call).get(call.params["id"])
    query = _query(call, default_top=999)
    page = keyset.keys[query.skip : query.skip + query.top]
    fragment = f"trustFramework/keySets('{keyset.id}')/keys_v2"
    body: dict[str, Any] = {
        "@odata.context": context_url(call.root, fragment),
        "value": [_v2(key) for key in page],
    }
    if query.skip + query.top < len(keyset.keys):
        base = call.root + f"{COLLECTION}('{keyset.id}')/keys_v2"
        body["@odata.nextLink"] = odata.next_link(base, query, skip=query.skip + query.top)
    return json_response(body)


def get_key_v2(call: Call) -> Response:
    keyset = keysets(call).get(call.params["id"])
    key = keyset.keys[_index(keyset, call.params["kid"])]
    fragment = f"trustFramework/keySets('{keyset.id}')/keys_v2/$entity"
    return json_response({"@odata.context": context_url(call.root, fragment), **_v2(key)})


def update_key_v2(call: Call) -> Response:
    # trustframeworkkey_v2-update.md: only `status` may change; 204 No Content.
    kid = call.params["kid"]
    _index(keysets(call).get(call.params["id"]), kid)
    status = call.body["status"]

    def change(current: KeySet) -> KeySet:
        index = _index(current, kid)
        if status is None:
            return current
        keys = list(current.keys)
        keys[index] = replace(keys[index], status=status)
        return KeySet(current.id, tuple(keys))

    keysets(call).update(call.params["id"], change)
    return no_content()
