"""JSON batching: ``POST /beta/$batch`` runs each request of Graph's batch body through the same
app and answers every one's status, headers and body. A malformed batch is refused whole (400);
an item whose dependency did not succeed is not run (424)."""

from __future__ import annotations

import base64
import binascii
import contextvars
from dataclasses import dataclass
from functools import partial
from graphlib import CycleError, TopologicalSorter
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request
from werkzeug.datastructures import Headers
from werkzeug.test import Client

from mockgraph.config import BASE_PATH
from mockgraph.http.codec import encode, json_value
from mockgraph.http.errors import BadRequest, FailedDependency
from mockgraph.http.facts import BATCH_FACTS, facts, new_request_id
from mockgraph.http.parsing import is_json, read_json
from mockgraph.http.rendering import json_response

PATH = BASE_PATH + "/$batch"
#: Graph's limit (the JSON batching page: "up to 20").
MAX_REQUESTS = 20
METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
ITEM_MEMBERS = frozenset({"id", "method", "url", "headers", "body", "dependsOn"})
#: Headers of an item's answer that belong to the outer HTTP answer.
_OUTER_ONLY = frozenset({"content-length", "vary", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch, checked: ``path`` is below ``/beta`` and starts with ``/``."""

    id: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    depends_on: tuple[str, ...]


def parse_batch(document: Any, *, host: str) -> list[BatchItem]:
    """The items of a decoded batch body in an order that runs each after its dependencies.
    ``host`` is the batch's own ``Host``, the only one an absolute ``url`` may name.
    Raises :class:`BadRequest`."""
    if not isinstance(document, dict):
        raise BadRequest("The batch body must be a JSON object with a 'requests' array.")
    unknown = sorted(set(document) - {"requests"})
    if unknown:
        raise BadRequest(f"The batch body has an unknown member '{unknown[0]}'.")
    raw_items = document.get("requests")
    if not isinstance(raw_items, list):
        raise BadRequest("The batch body must have a 'requests' array.")
    if not raw_items:
        raise BadRequest("The batch must hold at least one request.")
    if len(raw_items) > MAX_REQUESTS:
        raise BadRequest(
            f"A batch holds at most {MAX_REQUESTS} requests; this one has {len(raw_items)}."
        )
    items: dict[str, BatchItem] = {}
    for index, raw in enumerate(raw_items):
        item = _parse_item(f"Request {index + 1} of the batch", raw, host)
        if item.id in items:
            raise BadRequest(f"The batch has more than one request with id '{item.id}'.")
        items[item.id] = item
    for item in items.values():
        for dependency in item.depends_on:
            if dependency not in items:
                raise BadRequest(
                    f"Request '{item.id}' depends on '{dependency}', "
                    "which is not a request of this batch."
                )
    try:
        order = TopologicalSorter({i.id: i.depends_on for i in items.values()}).static_order()
        return [items[item_id] for item_id in order]
    except CycleError as exc:
        raise BadRequest(f"The 'dependsOn' of request '{exc.args[1][0]}' forms a cycle.") from None


def _parse_item(where: str, raw: Any, host: str) -> BatchItem:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be a JSON object.")
    unknown = sorted(set(raw) - ITEM_MEMBERS)
    if unknown:
        raise BadRequest(f"{where} has an unknown member '{unknown[0]}'.")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise BadRequest(f"{where} must have a non-empty string 'id'.")
    where = f"Request '{item_id}' of the batch"
    method, url = raw.get("method"), raw.get("url")
    if not isinstance(method, str) or not method:
        raise BadRequest(f"{where} must have a 'method'.")
    if method.upper() not in METHODS:
        raise BadRequest(f"{where} has the method '{method}'; allowed: {', '.join(METHODS)}.")
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{where} must have a 'url'.")
    # Relative to the version root, with or without a leading "/" (the page shows both).
    parts = urlsplit(url.strip())
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    if parts.scheme or parts.netloc:
        if parts.scheme.lower() not in ("http", "https") or parts.netloc.lower() != host.lower():
            raise BadRequest(f"{where} has an absolute URL to another host; use a relative URL.")
        if not parts.path.startswith(BASE_PATH + "/"):
            raise BadRequest(f"{where} has a URL outside the version root '{BASE_PATH}'.")
        path = parts.path[len(BASE_PATH) :]
    if unquote(path).rstrip("/") == "/$batch":
        raise BadRequest(f"{where} is a $batch request; batches cannot be nested.")
    headers = _headers(raw.get("headers"), where)
    depends_on = [] if raw.get("dependsOn") is None else raw["dependsOn"]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise BadRequest(f"{where} has a 'dependsOn' that is not an array of ids.")
    body = None if raw.get("body") is None else _body(raw["body"], headers, where)
    return BatchItem(
        item_id, method.upper(), path, parts.query, headers, body, tuple(dict.fromkeys(depends_on))
    )


def _headers(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} has 'headers' that are not a JSON object.")
    headers = []
    for name, value in raw.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)
        if not name.strip():
            raise BadRequest(f"{where} has a header without a name.")
        if not isinstance(value, str):
            raise BadRequest(f"{where} has a header '{name}' whose value is not a string.")
        if any(c in name + value for c in "\r\n"):
            raise BadRequest(f"{where} has a header '{name}' with a line break.")
        if name.lower() != "authorization":  # the batch's own token goes to every item
            headers.append((name, value))
    return tuple(headers)


def _body(raw: Any, headers: tuple[tuple[str, str], ...], where: str) -> bytes:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    if content_type is None:  # the JSON batching page: a body says its Content-Type
        raise BadRequest(f"{where} has a body but no 'Content-Type' header.")
    if is_json(content_type) or not isinstance(raw, str):
        return encode(raw)
    try:  # other content types travel base64-encoded, as Graph answers binary bodies
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        mimetype = content_type.split(";", 1)[0].strip().lower()
        raise BadRequest(f"{where} has a '{mimetype}' body that is not base64.") from None


def run_batch(app: Flask, items: list[BatchItem]) -> dict[str, dict[str, Any]]:
    """Run ``items`` through ``app`` in the order given; their answers by id. Every item
    carries the batch's ``Authorization`` header and, in its environ, the batch's facts
    (:data:`~mockgraph.http.facts.BATCH_FACTS`)."""
    answers: dict[str, dict[str, Any]] = {}
    for item in items:
        failed = [d for d in item.depends_on if not 200 <= answers[d]["status"] < 300]
        if failed:
            answers[item.id] = _not_run(item, failed[0])
            continue
        headers = Headers(list(item.headers))
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        # An empty context: Flask reuses an active app context of the same app, so the item
        # would otherwise share the batch request's ``g``.
        answer = contextvars.Context().run(
            Client(app.wsgi_app).open,
            BASE_PATH + item.path,
            base_url=request.root_url,
            query_string=item.query,
            method=item.method,
            headers=headers,
            data=item.body,
            environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1", BATCH_FACTS: facts()},
        )
        answers[item.id] = _answer(item.id, answer.status_code, answer.headers, answer.get_data())
    return answers


def _not_run(item: BatchItem, dependency: str) -> dict[str, Any]:
    """The 424 answer of an item not run, with ids of its own: a new ``request-id``, and the
    item's ``client-request-id`` when it sent a valid one."""
    error = FailedDependency(
        f"Request '{item.id}' was not run: request '{dependency}', which it depends on, failed."
    )
    request_id = new_request_id()
    sent = next((v for k, v in item.headers if k.lower() == "client-request-id"), request_id)
    client_id = sent if sent.isascii() and sent.isprintable() else request_id
    headers = {"Content-Type": "application/json", "request-id": request_id}
    return {
        "id": item.id,
        "status": error.status,
        "headers": headers | {"client-request-id": client_id},
        "body": error.body(request_id, client_id),
    }


def _answer(item_id: str, status: int, headers: Headers, data: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": item_id,
        "status": status,
        "headers": {
            k: v
            for k, v in headers.items()
            if k.lower() not in _OUTER_ONLY and not k.lower().startswith("access-control-")
        },
    }
    if data:
        body = json_value(data) if is_json(headers.get("Content-Type")) else None
        answer["body"] = base64.b64encode(data).decode("ascii") if body is None else body
    return answer


def batch(app: Flask) -> Response:
    """``POST /beta/$batch``: the view; answers in the order of the request."""
    if BATCH_FACTS in request.environ:
        raise BadRequest("Batches cannot be nested.")
    document = read_json(request, app.extensions["mockgraph"].config.max_body_bytes)
    items = parse_batch(document, host=request.host)
    answers = run_batch(app, items)
    return json_response({"responses": [answers[item["id"]] for item in document["requests"]]})


def register(app: Flask) -> None:
    """Serve ``POST /beta/$batch`` on ``app``."""
    app.add_url_rule(PATH, endpoint="batch", view_func=partial(batch, app), methods=["POST"])
