"""``GET /beta/$metadata``: the CSDL document every ``@odata.context`` points at, the
trustFramework slice of Graph's beta metadata (``schemas/metadata.xml``; its source is in
``docs/graph/SOURCE.md``)."""

from __future__ import annotations

from functools import partial

from flask import Flask

from mockgraph.config import BASE_PATH
from mockgraph.http.contracts import packaged
from mockgraph.http.rendering import GraphResponse


def register(app: Flask) -> None:
    """Serve ``$metadata`` on ``app`` (no token needed: a client reads it before signing in)."""
    body = packaged("schemas", "schemas").joinpath("metadata.xml").read_bytes()
    answer = partial(GraphResponse, body, content_type="application/xml")
    app.add_url_rule(BASE_PATH + "/$metadata", "metadata", answer, methods=["GET"])
