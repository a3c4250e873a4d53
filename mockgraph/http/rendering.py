"""Graph-shaped answers: JSON bodies with Graph's content type, ``204 No Content``, and the
URLs an answer names (``@odata.context``, the service root, ``Location``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Request, Response

from mockgraph.config import BASE_PATH
from mockgraph.http.codec import encode

JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)


class GraphResponse(Response):
    """Flask's response without a default content type (a ``204`` has none), carrying the value
    a JSON answer was rendered from (for the contract check, the log and the recorder)."""

    default_mimetype = None
    answer: Any = None


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> GraphResponse:
    """A JSON answer with Graph's content type."""
    response = GraphResponse(encode(body), status=status, headers=headers, content_type=JSON_TYPE)
    response.answer = body
    return response


def plain_json(body: Any, status: int = 200) -> GraphResponse:
    """A JSON answer of the mock's own API (the control API, the OpenAPI document)."""
    return GraphResponse(encode(body), status=status, content_type="application/json")


def no_content(headers: Mapping[str, str] | None = None) -> GraphResponse:
    """``204 No Content``: no body, no content type."""
    return GraphResponse(status=204, headers=headers)


def service_root(req: Request) -> str:
    """``scheme://host[:port]/beta`` as the client addressed the mock (``Host`` was checked on
    arrival), so links in answers lead back to it."""
    return f"{req.scheme}://{req.host}{BASE_PATH}"


def context_url(root: str, fragment: str) -> str:
    """``@odata.context`` as Graph sends it: ``<service root>/$metadata#<fragment>``."""
    return f"{root}/$metadata#{fragment}"


def entity_location(collection: str, item_id: str) -> str:
    """A create answer's ``Location`` (the create page's example): ``<collection>('<id>')``
    relative to the service root, quotes doubled."""
    return f"{collection}('" + quote(item_id.replace("'", "''"), safe="_.-") + "')"
