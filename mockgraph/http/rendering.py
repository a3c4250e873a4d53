"""Typed values -> Graph JSON answers: entities, collections, keys, ``@odata.context``,
``Location``, and the one JSON encoding of every body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from flask import Response, has_request_context
from werkzeug.datastructures import Headers

from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.state import current_g

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - platforms without its wheels: the standard library
    _orjson = None  # type: ignore[assignment]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: Graph's content type for OData answers.
JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)


#: A path that werkzeug's ``iri_to_uri`` gives back unchanged: it starts with one "/" (two
#: would start an authority) and holds only characters it never quotes (no "?" or "#").
_URI_PATH = re.compile(r"/(?!/)[A-Za-z0-9\-._~%!$&'()*+,/:;=@]*")


class GraphResponse(Response):
    """Flask's response, minus a pass that changes nothing for mockgraph's answers.

    Before sending, werkzeug copies every answer's headers and converts ``Location`` with
    ``iri_to_uri`` (a URL parse and three quotes: ~4% of a create, issue 6). When that pass
    would give the same headers (the length is set, the status carries a body, one
    ``Location`` at most, already a plain URI path as :func:`location` makes it), the headers
    are sent as they are; anything else takes werkzeug's own path."""

    def get_wsgi_headers(self, environ: Any) -> Headers:
        status = self.status_code
        if status < 200 or status in (204, 304) or self.autocorrect_location_header:
            return super().get_wsgi_headers(environ)
        has_length = has_location = False
        for key, value in self.headers:
            name = key.lower()
            if name == "content-length":
                has_length = True
            elif name == "location":
                # werkzeug sets it back as one "Location" header, converted.
                if has_location or key != "Location" or _URI_PATH.fullmatch(value) is None:
                    return super().get_wsgi_headers(environ)
                has_location = True
            elif name == "content-location":
                return super().get_wsgi_headers(environ)
        return self.headers if has_length else super().get_wsgi_headers(environ)


def dumps(body: Any) -> bytes:
    """The one JSON encoding of every answer: compact UTF-8, non-ASCII characters as they are.

    orjson (compiled; a fifth of the standard library's time on a page of 100 key sets)
    encodes what it can; the standard library what it refuses (integers past 64 bits, for
    one). Both give the same JSON values; only the spelling of a float's exponent may differ
    (``1e-07`` / ``1e-7``)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(body)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return _encoder.encode(body).encode("utf-8")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer with Graph's content type. The body object is kept in ``g.response_body``
    so the contract check and the journal need not decode it again."""
    if has_request_context():
        current_g().response_body = body
    # The content type given to the constructor: set afterwards, it is parsed and rebuilt.
    return GraphResponse(dumps(body), status=status, headers=headers, content_type=JSON_TYPE)


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case), or ``None``: ``Headers.get`` of an absent
    header builds and catches a ``BadRequestKeyError``, which costs more than this scan."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def no_content() -> Response:
    if has_request_context():
        current_g().response_body = None
    return GraphResponse(status=204)


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
