"""The OpenAPI document of the mocked API: the operations tables, their contracts, their
permissions and the documented examples assembled once, at app creation, into one OpenAPI 3.1
document served (no token needed) at ``GET /_mockgraph/openapi.json`` for schemathesis, Swagger
UI and code generators.

OpenAPI 3.1, not 3.0, because its Schema Object *is* JSON Schema draft 2020-12, the dialect of
the contracts: their schemas go in unchanged, only ``$ref``s move from ``#/$defs/`` to
``#/components/schemas/``. What the document leaves out (the README lists it): the OData key
form ``keySets('{id}')`` and the namespaced action aliases (``microsoft.graph.generateKey``,
``getActiveKey()``), which the mock answers too; operations that have no contract (the
``keys_v2`` reads); and the control API under ``/_mockgraph`` (this document excepted).

Documented examples come from ``fixtures/examples/`` (package ``mockgraph.examples``). The docs'
responses echo write-only secrets (``k``, ``d``, ``p``, ...) that the real service never returns,
so those members are dropped from response examples. An example body that holds one of the
docs' placeholder values (``"kid": "kid-value"``) or breaks its contract is left out rather than
shown as something the mock would send or accept.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from functools import partial
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from flask import Flask

from mockgraph.config import BASE_PATH, CONTROL_PATH, Config
from mockgraph.features.auth import Permissions
from mockgraph.http.codec import decode, encode
from mockgraph.http.contracts import Check, Contract, Contracts, packaged
from mockgraph.http.rendering import GraphResponse
from mockgraph.http.routing import Operation
from mockgraph.resources.keysets.models import KEYSET_ID_PATTERN, SECRET_FIELDS

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: Where the document is served.
DOCUMENT_PATH = CONTROL_PATH + "/openapi.json"
OPENAPI_VERSION = "3.1.0"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ERROR_SCHEMA = "microsoft.graph.ODataErrors.ODataError"
SECURITY_SCHEME = "bearer"

#: The docs' placeholder values: ``<member>-value`` (``"kid-value"``), and the upload pages'
#: ``Base64-encoded-pfx-content`` and ``application-secret-to-be-uploaded``.
PLACEHOLDER = re.compile(r"^[\w.]+-value$|^Base64-encoded-[\w-]+$|^[\w-]+-to-be-uploaded$")

#: A ``$ref`` to a local definition, in a schema's JSON text: the codec writes no spaces, and a
#: quote inside a string is escaped, so only members named ``$ref`` match.
_LOCAL_REF = re.compile(rb'"\$ref":"#/\$defs/([^"\\]+)"')
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_HEADER_REFS = {
    "request-id": {"$ref": "#/components/headers/request-id"},
    "client-request-id": {"$ref": "#/components/headers/client-request-id"},
}


def register(app: Flask, mock: MockGraph) -> None:
    """Build the document once and serve it at :data:`DOCUMENT_PATH`."""
    document = build_document(
        mock.operations.values(), mock.contracts, mock.permissions, mock.config, load_examples()
    )
    answer = partial(GraphResponse, encode(document), content_type="application/json")
    app.add_url_rule(DOCUMENT_PATH, "mockgraph_openapi", answer, methods=["GET"])


def load_examples(directory: Traversable | None = None) -> list[dict[str, Any]]:
    """The documented example exchanges (``"documented": true``) in ``directory`` (default: the
    ones shipped with the package), sorted by name. Recorded exchanges are not documentation."""
    root = directory if directory is not None else packaged("examples", "fixtures/examples")
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            example = decode(entry.read_bytes())
            if isinstance(example, dict) and example.get("documented") is True:
                found.append(example)
    return found


def build_document(
    operations: Iterable[Operation],
    contracts: Contracts,
    permissions: Mapping[str, Permissions],
    config: Config | None = None,
    examples: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One OpenAPI 3.1 document for the ``operations`` that have a contract, with ``examples``
    (example fixtures) attached to the operations they exercise and the ``permissions`` each
    accepts. ``config`` supplies the ``$top`` bound and whether a bearer token is required. A
    pure function: same input, same document."""
    config = config or Config()
    documented = sorted((op for op in operations if op.contract), key=lambda op: (op.path, op.id))
    by_operation: dict[str, list[Mapping[str, Any]]] = {}
    for example in examples:
        by_operation.setdefault(str(example.get("operation")), []).append(example)
    schemas: dict[str, Any] = {ERROR_SCHEMA: copy.deepcopy(ERROR_BODY)}
    shared: dict[str, dict[str, Any]] = {}
    paths: dict[str, dict[str, Any]] = {}
    for op in documented:
        contract = contracts[op.id]
        names = _component_names(contract, shared)
        for local, component in names.items():
            schemas.setdefault(component, _rewrite(contract.schema["$defs"][local], names))
        item = paths.setdefault(op.path, {})
        placeholders = _PLACEHOLDER.findall(op.path)
        if placeholders:
            item["parameters"] = [_path_parameter(name) for name in placeholders]
        operation = _operation(op, contract, names, config, by_operation.get(op.id, []))
        operation["security"] = _security(permissions[op.id], config)
        links = _links(op, documented)
        if links:
            operation["responses"][str(contract.status)]["links"] = links
        for index, method in enumerate(op.methods):
            operation_id = op.id if index == 0 else op.id + method.title()
            item[method.lower()] = {**operation, "operationId": operation_id}
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "mockgraph: Microsoft Graph beta trustFramework (mock)",
            "version": _version(),
            "description": (
                "Generated by mockgraph from its operations tables and JSON Schema contracts "
                "(draft 2020-12, hence OpenAPI 3.1). Operation ids are the contracts' names."
            ),
        },
        # Relative: resolved against where this document was fetched, so it names the very
        # server (host and port) that served it, however it was started.
        "servers": [{"url": BASE_PATH, "description": "this mockgraph server"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {"error": copy.deepcopy(ERROR_RESPONSE)},
            "headers": copy.deepcopy(HEADERS),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _links(op: Operation, documented: Iterable[Operation]) -> dict[str, Any]:
    """A create's links to the operations of the item it made (schemathesis' stateful phase
    and code generators follow them)."""
    item = op.path + "/{id}"
    if "POST" not in op.methods or _PLACEHOLDER.search(op.path):
        return {}
    return {
        other.id: {"operationId": other.id, "parameters": {"id": "$response.body#/id"}}
        for other in documented
        if other.path == item or other.path.startswith(item + "/")
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mockgraph")
    except PackageNotFoundError:  # imported from a source checkout
        return "0+source"


# -- schemas ---------------------------------------------------------------------------------


def _component_names(contract: Contract, shared: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each ``$defs`` name of ``contract`` -> its components/schemas name. A resource definition
    keeps its plain name when it and everything it reaches are as in the contract that first
    gave the name (``shared``: plain name -> that closure, updated here); otherwise (and always
    for ``request``/``response``) it is prefixed with the operation id."""
    defs: Mapping[str, Any] = contract.schema.get("$defs", {})
    closures = {local: _closure(defs, local) for local in defs}
    same = {
        local
        for local, closure in closures.items()
        if local not in ("request", "response") and shared.get(local, closure) == closure
    }
    # A definition reaching a prefixed one is prefixed too, or it would point at another
    # contract's copy.
    names = {
        local: local if set(closure) <= same else f"{contract.operation}.{local}"
        for local, closure in closures.items()
    }
    for local, component in names.items():
        if component == local:
            shared.setdefault(local, closures[local])
    return names


def _closure(defs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``name`` and every definition it reaches through ``$ref``, by local name."""
    found: dict[str, Any] = {}
    queue = [name]
    while queue:
        current = queue.pop()
        if current in found or current not in defs:
            continue
        found[current] = defs[current]
        queue.extend(_refs(defs[current]))
    return found


def _refs(schema: Any) -> list[str]:
    return [name.decode() for name in _LOCAL_REF.findall(encode(schema))]


def _rewrite(schema: Any, names: Mapping[str, str]) -> Any:
    """A copy of ``schema`` with ``#/$defs/x`` refs pointing at ``#/components/schemas/...``."""

    def component(match: re.Match[bytes]) -> bytes:
        local = match.group(1).decode()
        return b'"$ref":"#/components/schemas/' + names.get(local, local).encode() + b'"'

    return decode(_LOCAL_REF.sub(component, encode(schema)))


# -- operations ------------------------------------------------------------------------------


def _path_parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name == "id":
        # The characters a key set id can have (an ECMA-262 regex), prefix of any length.
        schema["pattern"] = KEYSET_ID_PATTERN.replace("{1,256}", "+")
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(op: Operation, config: Config) -> list[dict[str, Any]]:
    """The OData options ``op`` takes (``http.odata``), under their ``$`` names."""
    top = {"type": "integer", "minimum": 1, "maximum": config.max_page_size}
    # Repeats of $select are accepted (odata.parse_query), so no uniqueItems.
    select = {"type": "array", "items": {"enum": list(op.select)}, "minItems": 1}
    known: dict[str, tuple[dict[str, Any], str]] = {
        "top": (top, "Page size."),
        "skip": ({"type": "integer", "minimum": 0}, "Items to pass over."),
        "skiptoken": (_STRING, "The cursor of an @odata.nextLink."),
        "select": (select, "Properties to answer."),
        "orderby": ({"enum": ["id", "id asc", "id desc"]}, "Order of the ids."),
        "filter": (_STRING, "Only \"id eq '...'\" and \"startswith(id,'...')\"."),
        "count": ({"type": "boolean"}, "true is answered 400: not supported in B2C tenants."),
    }
    return [
        {"name": f"${name}", "in": "query", "schema": schema, "description": description}
        | ({"explode": False} if name == "select" else {})
        for name, (schema, description) in known.items()
        if name in op.query
    ]


def _operation(
    op: Operation,
    contract: Contract,
    names: Mapping[str, str],
    config: Config,
    examples: list[Mapping[str, Any]],
) -> dict[str, Any]:
    defs: Mapping[str, Any] = contract.schema.get("$defs", {})
    operation: dict[str, Any] = {"summary": f"{op.id}: {', '.join(op.methods)} {op.path}"}
    if op.query:
        operation["parameters"] = _query_parameters(op, config)
    if "request" in defs:
        shown = _examples(examples, "request", contract.request)
        operation["requestBody"] = {"required": True, "content": _media(names["request"], shown)}
    success: dict[str, Any] = {
        "description": f"{contract.status}: what the doc page documents.",
        "headers": dict(_HEADER_REFS),
    }
    if "response" in defs and contract.status != 204:
        shown = _examples(examples, "response", contract.response, contract.status)
        success["content"] = _media(names["response"], shown)
    if contract.status == 201:
        success["headers"]["Location"] = {"$ref": "#/components/headers/Location"}
    # 4XX/5XX rather than `default` (which the official OpenAPI uses): the documented success
    # status is then the only 2xx/3xx allowed, so a checker catches a wrong success status.
    operation["responses"] = {
        str(contract.status): success,
        "4XX": {"$ref": "#/components/responses/error"},
        "5XX": {"$ref": "#/components/responses/error"},
    }
    operation["x-mockgraph-operation"] = op.id
    return operation


def _media(component: str, examples: dict[str, Any]) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/" + component}}
    if examples:
        media["examples"] = examples
    return {"application/json": media}


def _security(needed: Permissions, config: Config) -> list[dict[str, list[str]]]:
    """Alternatives, one per accepted permission (OpenAPI 3.1 lets a non-OAuth scheme name
    roles), as the server checks them; with auth off, none is needed."""
    granted = sorted(needed.delegated | needed.application)
    alternatives = [{SECURITY_SCHEME: [p]} for p in granted] or [{SECURITY_SCHEME: []}]
    if not config.require_auth:
        alternatives.append({})
    return alternatives


# -- examples --------------------------------------------------------------------------------


def _examples(
    examples: list[Mapping[str, Any]], side: str, check: Check | None, status: int | None = None
) -> dict[str, dict[str, Any]]:
    """The ``side`` (``request`` or ``response``) bodies of ``examples`` worth showing: valid
    by ``check``, no docs placeholder, the response's write-only secrets dropped."""
    out: dict[str, dict[str, Any]] = {}
    for example in examples:
        part = example.get(side) or {}
        body = part.get("body")
        if body is None or (status is not None and part.get("status") != status):
            continue
        if side == "response":
            body = _without_secrets(body)
        if check is None or _has_placeholder(body) or not check.is_valid(body):
            continue
        summary = f"Documented example ({example.get('source', 'the Graph docs')})"
        if example.get("truncated"):
            summary += "; shortened on its page"
        out[str(example["name"])] = {"summary": summary, "value": body}
    return out


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return PLACEHOLDER.match(value) is not None
    if isinstance(value, dict):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    return False


# -- shared schemas, responses and headers -----------------------------------------------------


def _object(**properties: Any) -> dict[str, Any]:
    """A JSON Schema object requiring every one of ``properties``."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


_STRING = {"type": "string"}
#: Graph's error body (``concepts/errors.md``) as ``http.errors.error_body`` makes it; the date
#: in UTC, whole seconds, no offset: Graph's own format.
ERROR_BODY = _object(
    error=_object(
        code=_STRING,
        message=_STRING,
        innerError=_object(
            date={"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"},
            **{"request-id": _STRING, "client-request-id": _STRING},
        ),
    )
)
ERROR_RESPONSE = {
    "description": "Graph's error body, with the status of the error.",
    "headers": {**_HEADER_REFS, "Retry-After": {"$ref": "#/components/headers/Retry-After"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/" + ERROR_SCHEMA}}},
}
HEADERS = {
    "request-id": _header("The id the mock gave this request.", _STRING),
    "client-request-id": _header("The client's client-request-id, else the request-id.", _STRING),
    "Location": _header("The new key set, OData key form, relative to the service root.", _STRING),
    # Whole seconds (RFC 9110's delay-seconds), as the fault rules take them.
    "Retry-After": _header(
        "Seconds to wait: 429 and 503 answers (throttling, injected faults).",
        {"type": "integer", "minimum": 0},
        required=False,
    ),
}
