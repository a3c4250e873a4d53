"""The recording proxy (``mockgraph record --upstream URL --out DIR``): a WSGI app that
forwards every request under ``/beta`` to a real Graph with httpx, returns its answer unchanged
but for the links that lead back to it, checks both directions against the contracts
(violations are logged and recorded, never blocking) and records each exchange.

The upstream must be one of Graph's own hosts (:data:`GRAPH_HOSTS`) unless the caller widens
the list: bearer tokens for the real service pass through the proxy. ``@odata.nextLink`` and
``@odata.context`` of its answers name the proxy, so a client following a link stays recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from flask import Flask, Request, Response, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from mockgraph.config import BASE_PATH, Config
from mockgraph.features.faults import FAULT_HEADER
from mockgraph.features.recording import HOP_BY_HOP, Exchange, Recorder, check_exchange
from mockgraph.http import errors, intake, routing
from mockgraph.http.codec import JsonProblem, decode, encode
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import BadGateway, GatewayTimeout
from mockgraph.http.intake import HostPolicy
from mockgraph.http.routing import Operation
from mockgraph.resources import RESOURCES

log = logging.getLogger("mockgraph")

#: Microsoft Graph's hosts: the global service and the national clouds.
GRAPH_HOSTS = frozenset(
    {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us"}
    | {"microsoftgraph.chinacloudapi.cn"}
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The fault header is the mock's own: a real Graph must never see it.
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", FAULT_HEADER.lower()}
_NOT_RETURNED = HOP_BY_HOP | {"content-length"}
_LINKS = ("@odata.nextLink", "@odata.context", "@odata.deltaLink")


@dataclass(frozen=True)
class Upstream:
    """Where ``/beta`` is forwarded to: ``base`` ends with the path that replaces ``/beta``."""

    scheme: str
    host: str
    port: int | None
    base: str

    @classmethod
    def parse(cls, url: str, allowed: Iterable[str] = GRAPH_HOSTS) -> Upstream:
        """``https://graph.microsoft.com`` or ``.../beta`` (an empty path means ``/beta``).
        Raises ``ValueError`` for anything but an http(s) URL with a host among ``allowed``,
        and for user credentials, a query or a fragment in it."""
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("the upstream must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the upstream URL must not hold credentials")
        if parts.query or parts.fragment:
            raise ValueError("the upstream URL must not have a query or a fragment")
        if parts.hostname.lower() not in {a.lower() for a in allowed}:
            raise ValueError(
                f"the upstream host {parts.hostname} is not a Microsoft Graph host "
                "(allow it explicitly to forward tokens there)"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the upstream URL has an invalid port") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/") or BASE_PATH)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"{self.scheme}://{host}{f':{self.port}' if self.port is not None else ''}{self.base}"
        )


class Proxy:
    """Forwards each request under ``/beta`` to :attr:`upstream` and records the exchange."""

    def __init__(
        self, upstream: Upstream, recorder: Recorder, contracts: Contracts, timeout: float
    ) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.contracts = contracts
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._operations = {op.id: op for r in RESOURCES for op in r.operations}
        matcher = Flask("mockgraph-routes")
        routing.register(matcher, list(self._operations.values()))
        self._routes = matcher.url_map.bind("localhost")

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a request calls, as the mock routes it."""
        try:
            endpoint, _ = self._routes.match(path, method)
        except HTTPException:
            return None
        return self._operations.get(str(endpoint))

    def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        """One request to the upstream (``target``: path and query below it); redirects are
        returned, not followed. Raises :class:`BadGateway` or :class:`GatewayTimeout`."""
        try:
            return self.client.request(
                method, self.upstream.url + target, headers=headers, content=body
            )
        except httpx.TimeoutException:
            raise GatewayTimeout(
                f"The upstream {self.upstream.url} did not answer in time."
            ) from None
        except httpx.HTTPError as exc:
            raise BadGateway(
                f"The upstream {self.upstream.url} could not be reached: {type(exc).__name__}."
            ) from None

    def handle(self, incoming: Request) -> Response:
        """Forward ``incoming``, record the exchange, and return the upstream's answer."""
        body = incoming.get_data(cache=True)
        target = quote(incoming.path[len(BASE_PATH) :], safe="/()'$,:;=@!*+~")
        if incoming.query_string:
            target += "?" + incoming.query_string.decode("latin-1")
        forwarded = [(k, v) for k, v in incoming.headers.items() if k.lower() not in _NOT_FORWARDED]
        # Raw bytes, as sent: the body is both returned and recorded.
        forwarded.append(("Accept-Encoding", "identity"))
        answer = self.send(incoming.method, target, forwarded, body)
        data = self._relinked(answer.content, f"{incoming.scheme}://{incoming.host}{BASE_PATH}")
        operation = self.operation(incoming.method, incoming.path)
        contract = self.contracts.get(operation.id) if operation and operation.contract else None
        violations = check_exchange(contract, answer.status_code, _value(body), _value(data))
        for violation in violations:
            log.warning("%s %s breaks its contract: %s", incoming.method, incoming.path, violation)
        headers = [
            (k, v) for k, v in answer.headers.multi_items() if k.lower() not in _NOT_RETURNED
        ]
        self.recorder.record(
            Exchange(
                method=incoming.method,
                path=incoming.path,
                query=list(incoming.args.items(multi=True)),
                request_headers=list(incoming.headers.items()),
                request_data=body,
                status=answer.status_code,
                response_headers=headers,
                response_data=data,
                operation=operation.id if operation else None,
                contract=contract.operation if contract else None,
                secrets=operation.secrets if operation else _ALL_SECRETS,
                violations=[str(v) for v in violations],
            )
        )
        response = Response(data, status=answer.status_code, headers=Headers(headers))
        if "content-type" not in answer.headers:
            del response.headers["Content-Type"]
        return response

    def _relinked(self, data: bytes, own_root: str) -> bytes:
        """An answer whose links named the upstream, naming the proxy instead; any other
        answer (one that is not JSON included) as it came."""
        value = _value(data)
        if not isinstance(value, dict):
            return data
        base, changed = self.upstream.url, False
        for key in _LINKS:
            link = value.get(key)
            if isinstance(link, str) and (
                link == base or link.startswith((base + "/", base + "?"))
            ):
                value[key] = own_root + link[len(base) :]
                changed = True
        return encode(value) if changed else data


_ALL_SECRETS = frozenset(s for r in RESOURCES for op in r.operations for s in op.secrets)


def _value(data: bytes) -> Any:
    try:
        return decode(data) if data else None
    except JsonProblem:
        return None


def create_proxy(
    upstream: str,
    out: Path,
    *,
    contracts: Contracts | None = None,
    timeout: float = 60.0,
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = Config.max_body_bytes,
) -> Flask:
    """The recording proxy app (see the module). Other paths, an unreachable upstream and
    bodies over ``max_body_bytes`` get Graph's error body from the one renderer; nothing is
    recorded for them. Raises ``ValueError`` for a bad or foreign ``upstream`` (``allowed_hosts``
    widens :data:`GRAPH_HOSTS`) and :class:`~mockgraph.http.errors.StartupError` when ``out``
    cannot be made."""
    target = Upstream.parse(upstream, GRAPH_HOSTS | set(allowed_hosts))
    proxy = Proxy(
        target,
        Recorder(out, source=f"mockgraph record --upstream {target.url}"),
        contracts if contracts is not None else Contracts.load(),
        timeout,
    )
    app = Flask("mockgraph-record")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.extensions["mockgraph-record"] = proxy

    def forward(rest: str = "") -> Response:
        return proxy.handle(request)

    app.before_request(partial(intake.begin, HostPolicy(None), {}, max_body_bytes))
    app.add_url_rule(BASE_PATH, "forward", forward, methods=METHODS)
    app.add_url_rule(BASE_PATH + "/<path:rest>", "forward", forward, methods=METHODS)
    errors.install(app)
    return app


def proxy_of(app: Flask) -> Proxy:
    """The :class:`Proxy` of an app made by :func:`create_proxy`."""
    proxy: Proxy = app.extensions["mockgraph-record"]
    return proxy
