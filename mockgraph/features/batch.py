"""JSON batching: ``POST /beta/$batch`` reads Graph's batch body, runs each request through the
same app (routes, validation, permissions, faults, journal) and answers every one's status,
headers and body.

The whole batch is refused with 400 when it is malformed: not an object, no ``requests`` list,
none or more than :data:`MAX_REQUESTS` of them, an item that is not an object or has an unknown
member, a missing or duplicate ``id``, a missing or unknown ``method``, a missing ``url``, an
absolute URL to another host or outside ``/beta``, a nested ``$batch``, a body without a
``Content-Type`` header, or a ``dependsOn`` on an unknown id or in a cycle. Otherwise the answer
is 200 and each item has its own status; an item whose dependency did not succeed (a status
outside 2xx) is not run and gets 424.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import time
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, request
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from mockgraph.config import BASE_PATH
from mockgraph.http.codec import JsonProblem, decode, encode
from mockgraph.http.errors import BadRequest, FailedDependency, render_error
from mockgraph.http.facts import BATCH_FACTS, Facts, facts, new_request_id
from mockgraph.http.parsing import is_json, read_json
from mockgraph.http.rendering import json_response

PATH = BASE_PATH + "/$batch"
#: Graph's limit (the JSON batching page: "up to 20").
MAX_REQUESTS = 20
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
ITEM_MEMBERS = frozenset({"id", "method", "url", "headers", "body", "dependsOn"})
#: Headers of a sub-request's answer that belong to the outer HTTP answer, not to the item.
_OUTER_ONLY = frozenset({"content-length", "vary", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch, checked: ``path`` is below the version root (``/beta``) and
    starts with ``/``; ``body`` is ``None`` when the item has none."""

    id: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    depends_on: tuple[str, ...]


def parse_batch(document: Any, *, host: str) -> list[BatchItem]:
    """The items of a decoded batch body, in the order given. ``host`` is the batch request's
    own ``Host``: the only one an absolute ``url`` may name. Raises :class:`BadRequest`."""
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
    items: list[BatchItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        item = _parse_item(index, raw, host)
        if item.id in seen:
            raise BadRequest(f"The batch has more than one request with id '{item.id}'.")
        seen.add(item.id)
        items.append(item)
    for item in items:
        for dependency in item.depends_on:
            if dependency not in seen:
                raise BadRequest(
                    f"Request '{item.id}' depends on '{dependency}', "
                    "which is not a request of this batch."
                )
    execution_order(items)  # refuses a cycle
    return items


def _parse_item(index: int, raw: Any, host: str) -> BatchItem:
    where = f"Request {index + 1} of the batch"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be a JSON object.")
    unknown = sorted(set(raw) - ITEM_MEMBERS)
    if unknown:
        raise BadRequest(f"{where} has an unknown member '{unknown[0]}'.")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise BadRequest(f"{where} must have a non-empty string 'id'.")
    where = f"Request '{item_id}' of the batch"
    method = raw.get("method")
    if not isinstance(method, str) or not method:
        raise BadRequest(f"{where} must have a 'method'.")
    if method.upper() not in METHODS:
        raise BadRequest(
            f"{where} has the method '{method}'; allowed: {', '.join(sorted(METHODS))}."
        )
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise BadRequest(f"{where} must have a 'url'.")
    path, query = _relative(url.strip(), host, where)
    headers = _headers(raw.get("headers"), where)
    body = _body(raw.get("body"), headers, where)
    depends_on = raw.get("dependsOn")
    if depends_on is None:
        depends_on = []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise BadRequest(f"{where} has a 'dependsOn' that is not an array of ids.")
    return BatchItem(
        id=item_id,
        method=method.upper(),
        path=path,
        query=query,
        headers=headers,
        body=body,
        depends_on=tuple(dict.fromkeys(depends_on)),
    )


def _relative(url: str, host: str, where: str) -> tuple[str, str]:
    """``url`` as (path below ``/beta``, query). Relative URLs are relative to the version
    root, with or without a leading ``/`` (both appear on the JSON batching page)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if parts.scheme.lower() not in {"http", "https"} or parts.netloc.lower() != host.lower():
            raise BadRequest(f"{where} has an absolute URL to another host; use a relative URL.")
        if not parts.path.startswith(BASE_PATH + "/"):
            raise BadRequest(f"{where} has a URL outside the version root '{BASE_PATH}'.")
        path = parts.path[len(BASE_PATH) :]
    else:
        path = parts.path if parts.path.startswith("/") else "/" + parts.path
    if unquote(path).rstrip("/") == "/$batch":
        raise BadRequest(f"{where} is a $batch request; batches cannot be nested.")
    return path, parts.query


def _headers(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} has 'headers' that are not a JSON object.")
    headers: list[tuple[str, str]] = []
    for name, value in raw.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ", ".join(value)
        if not name.strip():
            raise BadRequest(f"{where} has a header without a name.")
        if not isinstance(value, str):
            raise BadRequest(f"{where} has a header '{name}' whose value is not a string.")
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise BadRequest(f"{where} has a header '{name}' with a line break.")
        # The batch's own token applies to every item (see `run_batch`).
        if name.lower() != "authorization":
            headers.append((name, value))
    return tuple(headers)


def _body(raw: Any, headers: tuple[tuple[str, str], ...], where: str) -> bytes | None:
    if raw is None:
        return None
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    if content_type is None:
        # The JSON batching page: a request with a body must say its Content-Type.
        raise BadRequest(f"{where} has a body but no 'Content-Type' header.")
    if is_json(content_type) or not isinstance(raw, str):
        return encode(raw)
    mimetype = content_type.split(";", 1)[0].strip().lower()
    # Other content types travel base64-encoded (as Graph answers binary bodies).
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} has a '{mimetype}' body that is not base64.") from None


def execution_order(items: list[BatchItem]) -> list[BatchItem]:
    """Each item after its dependencies, otherwise in the order given (the mock runs a batch
    one item at a time). Raises :class:`BadRequest` on a cycle."""
    by_id = {item.id: item for item in items}
    done: set[str] = set()
    visiting: set[str] = set()
    ordered: list[BatchItem] = []

    def visit(item: BatchItem) -> None:
        if item.id in done:
            return
        if item.id in visiting:
            raise BadRequest(f"The 'dependsOn' of request '{item.id}' forms a cycle.")
        visiting.add(item.id)
        for dependency in item.depends_on:
            visit(by_id[dependency])
        visiting.discard(item.id)
        done.add(item.id)
        ordered.append(item)

    for item in items:
        visit(item)
    return ordered


def run_batch(app: Flask, items: list[BatchItem], outer: Facts) -> list[dict[str, Any]]:
    """Run ``items`` through ``app``, each after its dependencies; their answers in the order
    of ``items`` (Graph may answer in any order; the mock keeps the request's).

    Every item carries the batch's ``Authorization`` header and no other: one token per batch,
    as on Graph (an item's own is dropped by :func:`parse_batch`). Its request's environ holds
    the batch's facts (:data:`~mockgraph.features.faults.BATCH_FACTS`)."""
    answers: dict[str, dict[str, Any]] = {}
    for item in execution_order(items):
        failed = [d for d in item.depends_on if not 200 <= answers[d]["status"] < 300]
        if failed:
            answers[item.id] = _not_run(item, failed[0])
            continue
        headers = Headers(list(item.headers))
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        builder = EnvironBuilder(
            path=BASE_PATH + item.path,
            base_url=request.root_url,
            query_string=item.query,
            method=item.method,
            headers=headers,
            data=item.body,
            environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1", BATCH_FACTS: outer},
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        status, response_headers, data = _call(app, environ)
        answers[item.id] = _answer(item.id, status, response_headers, data)
    return [answers[item.id] for item in items]


def _not_run(item: BatchItem, dependency: str) -> dict[str, Any]:
    """The 424 answer of an item not run, rendered by the one renderer with ids of the item's
    own (as every item's answer has): a new ``request-id``, and the item's
    ``client-request-id`` when it sent a valid one."""
    error = FailedDependency(
        f"Request '{item.id}' was not run: request '{dependency}', which it depends on, failed."
    )
    request_id = new_request_id()
    sent = next((v for k, v in item.headers if k.lower() == "client-request-id"), request_id)
    valid = sent.isascii() and sent.isprintable()
    own = Facts(time.perf_counter(), time.time(), request_id, sent if valid else request_id)
    batch_facts = g.facts
    g.facts = own  # what the renderer reads the ids from, and keeps the answer in
    try:
        response = render_error(error)
    finally:
        g.facts = batch_facts
    response.headers["request-id"] = own.request_id
    response.headers["client-request-id"] = own.client_request_id
    return _answer(item.id, response.status_code, response.headers, response.get_data())


def _call(app: Flask, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
    """One WSGI call in an empty ``contextvars`` context: Flask reuses an active app context
    of the same app, so without this the item would share the batch request's ``g``."""

    def call() -> tuple[int, Headers, bytes]:
        app_iter, status, headers = run_wsgi_app(app.wsgi_app, environ, buffered=True)
        return int(status.split(" ", 1)[0]), headers, b"".join(app_iter)

    return contextvars.Context().run(call)


def _answer(item_id: str, status: int, headers: Headers, data: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": item_id,
        "status": status,
        "headers": {k: v for k, v in headers.items() if not _outer_only(k)},
    }
    if data:
        try:
            answer["body"] = decode(data) if is_json(headers.get("Content-Type")) else None
        except JsonProblem:
            answer["body"] = None
        if answer["body"] is None:
            answer["body"] = base64.b64encode(data).decode("ascii")
    return answer


def _outer_only(name: str) -> bool:
    lowered = name.lower()
    return lowered in _OUTER_ONLY or lowered.startswith("access-control-")


def batch(app: Flask) -> Response:
    """``POST /beta/$batch``: the view."""
    if BATCH_FACTS in request.environ:
        raise BadRequest("Batches cannot be nested.")
    document = read_json(request, app.extensions["mockgraph"].config.max_body_bytes)
    items = parse_batch(document, host=request.host)
    return json_response({"responses": run_batch(app, items, facts())})


def register(app: Flask) -> None:
    """Serve ``POST /beta/$batch`` on ``app``."""
    app.add_url_rule(PATH, endpoint="batch", view_func=partial(batch, app), methods=["POST"])
