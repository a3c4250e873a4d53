"""The OpenAPI 3.1 document of the mocked API (its Schema Object is the contracts' JSON Schema
2020-12), built once from the operations tables, contracts, permissions and documented examples,
and served without a token at ``GET /_mockgraph/openapi.json``."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from flask import Flask

from mockgraph.config import BASE_PATH, CONTROL_PATH, Config
from mockgraph.features.auth import Permissions
from mockgraph.http.codec import decode, encode
from mockgraph.http.contracts import Check, Contracts, packaged
from mockgraph.http.rendering import GraphResponse
from mockgraph.http.routing import Operation
from mockgraph.resources.examples import is_placeholder
from mockgraph.resources.keysets.models import KEYSET_ID_PATTERN, SECRET_FIELDS

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

DOCUMENT_PATH = CONTROL_PATH + "/openapi.json"
ERROR_SCHEMA = "microsoft.graph.ODataErrors.ODataError"
#: A ``$ref`` to a local definition in a schema's compact JSON text (a quote inside a string
#: is escaped, so only members named ``$ref`` match).
_LOCAL_REF = re.compile(rb'"\$ref":"#/\$defs/([^"\\]+)"')
_PARAMETER = re.compile(r"\{(\w+)\}")
_STRING = {"type": "string"}
_IDS = {
    "request-id": {"$ref": "#/components/headers/request-id"},
    "client-request-id": {"$ref": "#/components/headers/client-request-id"},
}
_ERROR = {"$ref": "#/components/responses/error"}


def register(app: Flask, mock: MockGraph) -> None:
    """Build the document once and serve it at :data:`DOCUMENT_PATH`."""
    document = build_document(
        mock.operations.values(), mock.contracts, mock.permissions, mock.config, load_examples()
    )
    answer = partial(GraphResponse, encode(document), content_type="application/json")
    app.add_url_rule(DOCUMENT_PATH, "mockgraph_openapi", answer, methods=["GET"])


def load_examples(directory: Traversable | None = None) -> list[dict[str, Any]]:
    """The documented example exchanges (``"documented": true``) in ``directory`` (default:
    those shipped with the package), by name; recorded exchanges are not documentation."""
    root = directory if directory is not None else packaged("examples", "fixtures/examples")
    if not root.is_dir():
        return []
    files = sorted((e for e in root.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    found = [decode(e.read_bytes()) for e in files]
    return [e for e in found if isinstance(e, dict) and e.get("documented") is True]


def build_document(
    operations: Iterable[Operation],
    contracts: Contracts,
    permissions: Mapping[str, Permissions],
    config: Config | None = None,
    examples: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ``operations`` that have a contract, with the
    ``examples`` of each and the ``permissions`` it accepts; ``config`` gives the ``$top`` bound
    and whether a token is required. Same input, same document."""
    config, examples = config or Config(), list(examples)
    documented = sorted((op for op in operations if op.contract), key=lambda op: (op.path, op.id))
    schemas: dict[str, Any] = {ERROR_SCHEMA: ERROR_BODY}
    shared: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for op in documented:
        contract = contracts[op.id]
        defs: Mapping[str, Any] = contract.schema.get("$defs", {})
        names = _component_names(op.id, defs, shared)
        for local, component in names.items():
            schemas.setdefault(component, _rewrite(defs[local], names))
        shown = [e for e in examples if e.get("operation") == op.id]
        success: dict[str, Any] = {
            "description": f"{contract.status}: what the doc page documents.",
            "headers": dict(_IDS),
        }
        operation: dict[str, Any] = {"summary": f"{op.id}: {', '.join(op.methods)} {op.path}"}
        if op.query:
            operation["parameters"] = _query_parameters(op, config)
        if "request" in defs:
            media = _media(names["request"], shown, "request", contract.request)
            operation["requestBody"] = {"required": True, "content": media}
        if "response" in defs and contract.status != 204:
            media = _media(names["response"], shown, "response", contract.response, contract.status)
            success["content"] = media
        if contract.status == 201:
            success["headers"]["Location"] = {"$ref": "#/components/headers/Location"}
        # A create links to the operations on what it made (schemathesis' stateful phase).
        item = op.path + "/{id}"
        links = {
            other.id: {"operationId": other.id, "parameters": {"id": "$response.body#/id"}}
            for other in documented
            if "POST" in op.methods
            and not _PARAMETER.search(op.path)
            and (other.path == item or other.path.startswith(item + "/"))
        }
        if links:
            success["links"] = links
        # 4XX/5XX rather than `default`: the documented success status is then the only 2xx
        # allowed, so a checker catches a wrong success status.
        operation["responses"] = {str(contract.status): success, "4XX": _ERROR, "5XX": _ERROR}
        # One alternative per permission the server accepts; none needed with auth off.
        needed = permissions[op.id]
        granted = sorted(needed.delegated | needed.application)
        security = [{"bearer": [p]} for p in granted] or [{"bearer": []}]
        operation["security"] = security + ([] if config.require_auth else [{}])
        operation["x-mockgraph-operation"] = op.id
        path_item = paths.setdefault(op.path, {})
        if _PARAMETER.search(op.path):
            path_item["parameters"] = [_path_parameter(n) for n in _PARAMETER.findall(op.path)]
        for index, method in enumerate(op.methods):
            operation_id = op.id if index == 0 else op.id + method.title()
            path_item[method.lower()] = {**operation, "operationId": operation_id}
    # A copy, so that no caller can change the shared parts and constants.
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": {
                "title": "mockgraph: Microsoft Graph beta trustFramework (mock)",
                "version": _version(),
                "description": (
                    "Generated by mockgraph from its operations tables and JSON Schema contracts "
                    "(draft 2020-12, hence OpenAPI 3.1). Operation ids are the contracts' names."
                ),
            },
            # Relative: it names whatever server (host and port) the document was fetched from.
            "servers": [{"url": BASE_PATH, "description": "this mockgraph server"}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": {"error": ERROR_RESPONSE},
                "headers": HEADERS,
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                },
            },
        }
    )


def _version() -> str:
    try:
        return version("mockgraph")
    except PackageNotFoundError:  # a source checkout
        return "0+source"


def _component_names(
    operation: str, defs: Mapping[str, Any], shared: dict[str, Any]
) -> dict[str, str]:
    """Each ``$defs`` name -> its components/schemas name: the plain name when the definition
    and all it reaches are as the contract that first gave the name had them (``shared``: plain
    name -> definition, updated here); otherwise, and always for ``request`` and ``response``,
    prefixed with the operation id, so no reference crosses over to another contract's copy."""
    same = {
        local
        for local, schema in defs.items()
        if local not in ("request", "response") and shared.get(local, schema) == schema
    }
    refs = {local: [r.decode() for r in _LOCAL_REF.findall(encode(s))] for local, s in defs.items()}
    names = {}
    for local in defs:
        reached, queue = set(), [local]
        while queue:
            name = queue.pop()
            if name not in reached and name in defs:
                reached.add(name)
                queue += refs[name]
        names[local] = local if reached <= same else f"{operation}.{local}"
        if names[local] == local:
            shared.setdefault(local, defs[local])
    return names


def _rewrite(schema: Any, names: Mapping[str, str]) -> Any:
    """A copy of ``schema`` with ``#/$defs/x`` refs pointing at ``#/components/schemas/...``."""

    def component(match: re.Match[bytes]) -> bytes:
        local = match[1].decode()
        return b'"$ref":"#/components/schemas/' + names.get(local, local).encode() + b'"'

    return decode(_LOCAL_REF.sub(component, encode(schema)))


def _path_parameter(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if name == "id":  # the characters a key set id can have (ECMA-262), of any length
        schema["pattern"] = KEYSET_ID_PATTERN.replace("{1,256}", "+")
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(op: Operation, config: Config) -> list[dict[str, Any]]:
    """The OData options ``op`` takes (``http.odata``), under their ``$`` names."""
    known: dict[str, tuple[dict[str, Any], str]] = {
        "top": ({"type": "integer", "minimum": 1, "maximum": config.max_page_size}, "Page size."),
        "skip": ({"type": "integer", "minimum": 0}, "Items to pass over."),
        "skiptoken": (_STRING, "The cursor of an @odata.nextLink."),
        # Repeats of $select are accepted, so no uniqueItems.
        "select": (
            {"type": "array", "items": {"enum": list(op.select)}, "minItems": 1},
            "Properties to answer.",
        ),
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


def _media(
    component: str,
    examples: list[Mapping[str, Any]],
    side: str,
    check: Check | None,
    status: int | None = None,
) -> dict[str, Any]:
    """The JSON media type of ``component`` with the ``side`` bodies of ``examples`` worth
    showing: of ``status``, valid by ``check``, no placeholder, the answer's secrets dropped."""
    shown = {}
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
        shown[str(example["name"])] = {"summary": summary, "value": body}
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/" + component}}
    return {"application/json": media | ({"examples": shown} if shown else {})}


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, dict | list):
        return any(map(_has_placeholder, value.values() if isinstance(value, dict) else value))
    return is_placeholder(value)


def _object(**properties: Any) -> dict[str, Any]:
    """A JSON Schema object requiring every one of ``properties``."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


#: Graph's error body (``concepts/errors.md``) as ``http.errors.error_body`` makes it.
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
    "headers": {**_IDS, "Retry-After": {"$ref": "#/components/headers/Retry-After"}},
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
