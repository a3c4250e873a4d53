"""URL rules and thin views of ``/beta/trustFramework/keySets``: parse -> store -> render.

Every view's endpoint name is its operation id (the contract's name), so the app's hooks know
which contract, permissions and faults apply before the view runs. Each item URL exists in the
path form (``/keySets/{id}``) and the OData key form (``/keySets('{id}')``) that the create
page's ``Location`` uses; each action also under its namespaced name
(``microsoft.graph.generateKey``, as in the official OpenAPI); the function ``getActiveKey`` also
in its call form ``getActiveKey()``, as the official SDK sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Request, Response
from werkzeug.routing import BaseConverter, Map

from mockgraph.config import BASE_PATH
from mockgraph.http import odata, parsing, rendering
from mockgraph.http.contracts import Contract
from mockgraph.http.errors import BadRequest, NotFound
from mockgraph.resources.keysets import keys as keymaterial
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.resources.keysets.store import id_key
from mockgraph.state import MockGraph, current_request, mockgraph

bp = Blueprint("graph", __name__, url_prefix=BASE_PATH)


class ODataKeyConverter(BaseConverter):
    """``'B2C_1A_x'`` (with OData's doubled quotes) in ``keySets('B2C_1A_x')``."""

    regex = r"'(?:[^']|'')*'"
    part_isolating = False

    def to_python(self, value: str) -> str:
        return value[1:-1].replace("''", "'")

    def to_url(self, value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"


def register_converters(url_map: Map) -> None:
    url_map.converters["odatakey"] = ODataKeyConverter


COLLECTION = "/trustFramework/keySets"
ITEM_FORMS = (COLLECTION + "/<keyset_id>", COLLECTION + "(<odatakey:keyset_id>)")


def _route(
    suffix: str, operation: str, methods: list[str], *aliases: str
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register ``view`` as ``operation`` under every item form, and each alias suffix."""

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        for form in ITEM_FORMS:
            for tail in (suffix, *aliases):
                bp.add_url_rule(form + tail, endpoint=operation, view_func=view, methods=methods)
        return view

    return register


def _service_root() -> str:
    """``http://host:port/beta`` as the client addressed the mock (``@odata.context``)."""
    req = current_request()
    environ = req.environ
    key = (
        environ.get("wsgi.url_scheme"),
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
        environ.get("SCRIPT_NAME"),
    )
    root = _ROOTS.get(key)
    if root is None:
        # werkzeug's answer for these environ values, once each: it was ~5% of a get.
        root = req.root_url.rstrip("/") + BASE_PATH
        if len(_ROOTS) < 256:
            _ROOTS[key] = root
    return root


#: Service roots by the environ values ``request.root_url`` is made of (a bounded memo of a
#: pure function: a client sends one Host, a test run a few).
_ROOTS: dict[tuple[Any, ...], str] = {}


def _body(state: MockGraph, operation: str) -> Any:
    """The request body of ``operation`` as typed values: JSON read safely, checked against
    the contract, then loaded by marshmallow. Raises a GraphError, never anything else."""
    contract: Contract = state.contracts[operation]
    req = current_request()
    raw = parsing.read_json(
        req.get_data(cache=True), req.content_type, req.content_length, state.config.max_body_bytes
    )
    body = parsing.require_object(raw)
    if state.config.validate_requests:
        contract.check_request(body)
    return parsing.load(operation, body)


@bp.post(COLLECTION, endpoint="createKeySet")
def create_keyset() -> Response:
    state = mockgraph()
    created = state.store.create(_body(state, "createKeySet"))
    return rendering.json_response(
        rendering.keyset_entity(_service_root(), created),
        201,
        {"Location": rendering.location(created.id)},
    )


@bp.get(COLLECTION, endpoint="listKeySets")
def list_keysets() -> Response:
    state = mockgraph()
    query = odata.parse_list_query(
        current_request().args.items(multi=True),
        default_top=state.config.default_page_size,
        max_top=state.config.max_page_size,
    )
    root = _service_root()
    if query.filter_eq is not None:
        items = [state.store.get(query.filter_eq)] if query.filter_eq in state.store else []
        items = [i for i in items if query.after is None][query.skip : query.skip + query.top]
        more = False
    else:
        items, more = state.store.page(
            after=query.after,
            limit=query.top,
            descending=query.descending,
            prefix=query.filter_prefix,
            skip=query.skip,
        )
    link = odata.next_link(root + COLLECTION, query, items[-1].id) if more and items else None
    body = rendering.keyset_collection(root, items, select=query.select, next_link=link)
    return rendering.json_response(body)


@_route("", "getKeySet", ["GET"])
def get_keyset(keyset_id: str) -> Response:
    return rendering.json_response(
        rendering.keyset_entity(_service_root(), mockgraph().store.get(keyset_id))
    )


@_route("", "updateKeySet", ["PUT", "PATCH"])
def update_keyset(keyset_id: str) -> Response:
    # The docs' update page says PUT ("replaces the content"); the official OpenAPI and SDK
    # say PATCH. Both are accepted and both replace `keys`; only a PATCH without `keys`
    # leaves them as they are.
    state = mockgraph()
    state.store.get(keyset_id)
    update: parsing.UpdateKeySet = _body(state, "updateKeySet")

    def apply(current: KeySet) -> KeySet:
        if update.id is not None and id_key(parsing.with_prefix(update.id)) != id_key(current.id):
            raise BadRequest(
                f"The id '{update.id}' in the body does not match "
                f"the key set '{current.id}' of the URL."
            )
        if update.keys is None:
            return current if current_request().method == "PATCH" else KeySet(current.id, ())
        return KeySet(current.id, update.keys)

    updated = state.store.update(keyset_id, apply)
    return rendering.json_response(rendering.keyset_entity(_service_root(), updated))


@_route("", "deleteKeySet", ["DELETE"])
def delete_keyset(keyset_id: str) -> Response:
    mockgraph().store.delete(keyset_id)
    return rendering.no_content()


def _add_key(state: MockGraph, keyset_id: str, key: Key) -> Response:
    state.store.update(keyset_id, lambda current: KeySet(current.id, (*current.keys, key)))
    return rendering.json_response(rendering.key_entity(_service_root(), key))


@_route("/generateKey", "generateKey", ["POST"], "/microsoft.graph.generateKey")
def generate_key(keyset_id: str) -> Response:
    state = mockgraph()
    state.store.get(keyset_id)
    params: parsing.GenerateKey = _body(state, "generateKey")
    if params.kty == "RSA":
        key = keymaterial.generate_rsa(params.use, params.nbf, params.exp)
    else:
        key = keymaterial.generate_oct(params.use, params.nbf, params.exp)
    return _add_key(state, keyset_id, key)


@_route("/uploadSecret", "uploadSecret", ["POST"], "/microsoft.graph.uploadSecret")
def upload_secret(keyset_id: str) -> Response:
    state = mockgraph()
    state.store.get(keyset_id)
    params: parsing.UploadSecret = _body(state, "uploadSecret")
    return _add_key(
        state, keyset_id, keymaterial.secret_key(params.use, params.k, params.nbf, params.exp)
    )


@_route("/uploadCertificate", "uploadCertificate", ["POST"], "/microsoft.graph.uploadCertificate")
def upload_certificate(keyset_id: str) -> Response:
    state = mockgraph()
    state.store.get(keyset_id)
    params: parsing.UploadCertificate = _body(state, "uploadCertificate")
    return _add_key(state, keyset_id, keymaterial.certificate_key(params.key))


@_route("/uploadPkcs12", "uploadPkcs12", ["POST"], "/microsoft.graph.uploadPkcs12")
def upload_pkcs12(keyset_id: str) -> Response:
    state = mockgraph()
    state.store.get(keyset_id)
    params: parsing.UploadPkcs12 = _body(state, "uploadPkcs12")
    return _add_key(state, keyset_id, keymaterial.pkcs12_key(params.key, params.password))


@_route(
    "/getActiveKey",
    "getActiveKey",
    ["GET"],
    "/getActiveKey()",
    "/microsoft.graph.getActiveKey",
    "/microsoft.graph.getActiveKey()",
)
def get_active_key(keyset_id: str) -> Response:
    state = mockgraph()
    keyset = state.store.get(keyset_id)
    now = state.store.now()
    active = [
        (key.nbf if key.nbf is not None else float("-inf"), index, key)
        for index, key in enumerate(keyset.keys)
        if key.is_active_at(int(now)) and key.status != "disabled"
    ]
    if not active:
        # Not documented; the active key is a resource that does not exist, so 404 as for
        # any missing resource (decision recorded in the README).
        raise NotFound(f"Key set '{keyset.id}' has no active key.")
    _, _, newest = max(active, key=lambda item: (item[0], item[1]))
    return rendering.json_response(rendering.key_entity(_service_root(), newest))


def _v2(key: Key) -> dict[str, Any]:
    # The trustFrameworkKey_v2 resource page is not among the docs we build from: a v2 key is
    # rendered as the v1 key's readable members plus `status` (enabled unless disabled).
    return {**key.public(), "status": key.status or "enabled"}


def _find_key(keyset: KeySet, kid: str) -> int:
    for index, key in enumerate(keyset.keys):
        if key.kid == kid:
            return index
    raise NotFound(f"Key '{kid}' was not found in key set '{keyset.id}'.")


@_route("/keys_v2", "listKeysV2", ["GET"])
def list_keys_v2(keyset_id: str) -> Response:
    keyset = mockgraph().store.get(keyset_id)
    fragment = f"trustFramework/keySets('{keyset.id}')/keys_v2"
    body = {
        "@odata.context": rendering.context_url(_service_root(), fragment),
        "value": [_v2(key) for key in keyset.keys],
    }
    return rendering.json_response(body)


@_route("/keys_v2/<kid>", "getKeyV2", ["GET"])
def get_key_v2(keyset_id: str, kid: str) -> Response:
    keyset = mockgraph().store.get(keyset_id)
    key = keyset.keys[_find_key(keyset, kid)]
    fragment = f"trustFramework/keySets('{keyset.id}')/keys_v2/$entity"
    body = {"@odata.context": rendering.context_url(_service_root(), fragment), **_v2(key)}
    return rendering.json_response(body)


@_route("/keys_v2/<kid>", "updateKeyV2", ["PATCH"])
def update_key_v2(keyset_id: str, kid: str) -> Response:
    # trustframeworkkey_v2-update.md: only `status` may change; 204 No Content.
    state = mockgraph()
    _find_key(state.store.get(keyset_id), kid)
    update: parsing.UpdateKeyV2 = _body(state, "updateKeyV2")

    def apply(current: KeySet) -> KeySet:
        index = _find_key(current, kid)
        if update.status is None:
            return current
        keys = list(current.keys)
        keys[index] = keys[index].with_status(update.status)
        return KeySet(current.id, tuple(keys))

    state.store.update(keyset_id, apply)
    return rendering.no_content()


def register(app: Flask) -> None:
    """Install the converters and the Graph blueprint on ``app``."""
    register_converters(app.url_map)
    app.register_blueprint(bp)


def operation_of(req: Request) -> str | None:
    """The operation id of ``req`` (its endpoint), if it is a Graph route."""
    endpoint = req.endpoint
    if endpoint is not None and endpoint.startswith("graph."):
        return endpoint[6:]
    return None
