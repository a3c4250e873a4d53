"""Typed values -> Graph JSON answers: entities, collections, keys, ``@odata.context``,
``Location``, and the one JSON encoding of every body."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from flask import Response, g, has_request_context

from .models import Key, KeySet

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: Graph's content type for OData answers.
JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)


def dumps(body: Any) -> str:
    """The one JSON encoding of every answer: compact, UTF-8."""
    return _encoder.encode(body)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer with Graph's content type. The body object is kept in ``g.response_body``
    so the contract check and the journal need not decode it again."""
    if has_request_context():
        g.response_body = body
    # The content type given to the constructor: set afterwards, it is parsed and rebuilt.
    return Response(dumps(body), status=status, headers=headers, content_type=JSON_TYPE)


def no_content() -> Response:
    if has_request_context():
        g.response_body = None
    return Response(status=204)


def context_url(service_root: str, fragment: str) -> str:
    """``@odata.context`` as Graph sends it: ``<service root>/$metadata#<fragment>``."""
    return f"{service_root}/$metadata#{fragment}"


def keyset(item: KeySet) -> dict[str, Any]:
    """A key set's readable members: secrets of its keys left out."""
    return {"id": item.id, "keys": [key.public() for key in item.keys]}


def keyset_entity(service_root: str, item: KeySet) -> dict[str, Any]:
    return {
        "@odata.context": context_url(service_root, "trustFramework/keySets/$entity"),
        **keyset(item),
    }


def keyset_collection(
    service_root: str,
    items: Sequence[KeySet],
    *,
    select: Sequence[str] | None = None,
    next_link: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    fragment = "trustFramework/keySets"
    if select:
        fragment += "(" + ",".join(select) + ")"
    body: dict[str, Any] = {"@odata.context": context_url(service_root, fragment)}
    if count is not None:
        body["@odata.count"] = count
    if select:
        body["value"] = [{k: v for k, v in keyset(i).items() if k in select} for i in items]
    else:
        body["value"] = [keyset(i) for i in items]
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return body


def key_entity(service_root: str, key: Key) -> dict[str, Any]:
    """An action's or function's trustFrameworkKey answer (generateKey page's example)."""
    return {
        "@odata.context": context_url(service_root, "microsoft.graph.trustFrameworkKey"),
        **key.public(),
    }


def location(keyset_id: str) -> str:
    """The create page's ``Location``: ``/trustFramework/keySets('<id>')`` (OData key form,
    relative to the service root, quotes doubled as OData escapes them)."""
    return "/trustFramework/keySets('" + quote(keyset_id.replace("'", "''"), safe="_.-") + "')"
