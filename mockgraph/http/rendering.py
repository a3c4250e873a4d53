"""Graph-shaped answers: JSON bodies with Graph's content type, ``204 No Content``, and the
URLs an answer names (``@odata.context``, the service root, ``Location``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Request, Response

from mockgraph.config import BASE_PATH
from mockgraph.http.codec import encode
from mockgraph.http.facts import facts_or_none

#: Graph's content type for OData answers.
JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)


class GraphResponse(Response):
    """Flask's response without a default content type: an answer has the type it is given,
    and a ``204`` none at all (Flask's default would label it ``text/html``)."""

    default_mimetype = None


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> GraphResponse:
    """A JSON answer with Graph's content type. The body value is kept in the request's facts,
    so the contract check and the recorder need not decode it again."""
    known = facts_or_none()
    if known is not None:
        known.answer = body
    return GraphResponse(encode(body), status=status, headers=headers, content_type=JSON_TYPE)


def plain_json(body: Any, status: int = 200) -> GraphResponse:
    """A JSON answer of the mock's own API (the control API, the OpenAPI document)."""
    return GraphResponse(encode(body), status=status, content_type="application/json")


def no_content(headers: Mapping[str, str] | None = None) -> GraphResponse:
    """``204 No Content``: no body, no content type."""
    return GraphResponse(status=204, headers=headers)


def service_root(req: Request) -> str:
    """``scheme://host[:port]/beta`` as the client addressed the mock (its ``Host`` was
    checked on arrival): links in answers lead back to this server, over the same scheme."""
    return f"{req.scheme}://{req.host}{BASE_PATH}"


def context_url(root: str, fragment: str) -> str:
    """``@odata.context`` as Graph sends it: ``<service root>/$metadata#<fragment>``."""
    return f"{root}/$metadata#{fragment}"


def entity_location(collection: str, item_id: str) -> str:
    """A create answer's ``Location``: ``<collection>('<id>')``, the OData key form relative to
    the service root, quotes doubled as OData escapes them (the create page's example)."""
    return f"{collection}('" + quote(item_id.replace("'", "''"), safe="_.-") + "')"
