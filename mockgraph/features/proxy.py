"""The recording proxy (``mockgraph record``): a WSGI app that forwards ``/beta`` to a real Graph
(only Graph's own hosts unless widened: tokens pass through) with httpx, returns its answers with
links renamed to the proxy, and records each exchange with its contract violations."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from mockgraph.config import BASE_PATH, Config
from mockgraph.features.faults import FAULT_HEADER
from mockgraph.features.journal import Exchange
from mockgraph.features.recording import HOP_BY_HOP, Recorder, check_exchange
from mockgraph.http import errors, intake, routing
from mockgraph.http.codec import encode, json_value
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
    """Where ``/beta`` is forwarded to: ``url`` ends with the path that replaces ``/beta``."""

    url: str

    @classmethod
    def parse(cls, url: str, allowed: Iterable[str] = GRAPH_HOSTS) -> Upstream:
        """``https://graph.microsoft.com`` or ``.../beta`` (an empty path means ``/beta``).
        Raises ``ValueError`` for anything but an http(s) URL with a host among ``allowed``,
        and for credentials, a query or a fragment in it."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the upstream must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the upstream URL must not hold credentials")
        if parts.query or parts.fragment:
            raise ValueError("the upstream URL must not have a query or a fragment")
        if parts.hostname not in {a.lower() for a in allowed}:
            raise ValueError(
                f"the upstream host {parts.hostname} is not a Microsoft Graph host "
                "(allow it explicitly to forward tokens there)"
            )
        try:
            port = "" if parts.port is None else f":{parts.port}"
        except ValueError:
            raise ValueError("the upstream URL has an invalid port") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(f"{parts.scheme}://{host}{port}{parts.path.rstrip('/') or BASE_PATH}")


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
        self._secrets = frozenset(s for op in self._operations.values() for s in op.secrets)
        routes = Flask("mockgraph-routes")
        routing.register(routes, list(self._operations.values()))
        self._routes = routes.url_map.bind("localhost")

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a request calls, as the mock routes it."""
        try:
            endpoint, _ = self._routes.match(path, method)
        except HTTPException:
            return None
        return self._operations.get(str(endpoint))

    def handle(self, incoming: Request) -> Response:
        """Forward ``incoming``, record the exchange, and return the upstream's answer. Raises
        :class:`BadGateway` or :class:`GatewayTimeout` when the upstream does not answer."""
        body = incoming.get_data(cache=True)
        target = quote(incoming.path[len(BASE_PATH) :], safe="/()'$,:;=@!*+~")
        if incoming.query_string:
            target += "?" + incoming.query_string.decode("latin-1")
        forwarded = [(k, v) for k, v in incoming.headers.items() if k.lower() not in _NOT_FORWARDED]
        forwarded.append(("Accept-Encoding", "identity"))  # raw bytes, returned and recorded
        base = self.upstream.url
        try:
            answer = self.client.request(
                incoming.method, base + target, headers=forwarded, content=body
            )
        except httpx.TimeoutException:
            raise GatewayTimeout(f"The upstream {base} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise BadGateway(
                f"The upstream {base} could not be reached: {type(exc).__name__}."
            ) from None
        data, value = answer.content, json_value(answer.content)
        if isinstance(value, dict):
            # Links that name the upstream name the proxy instead.
            own_root = f"{incoming.scheme}://{incoming.host}{BASE_PATH}"
            links = {
                key: own_root + link[len(base) :]
                for key in _LINKS
                if isinstance(link := value.get(key), str)
                and (link == base or link.startswith((base + "/", base + "?")))
            }
            if links:
                value |= links
                data = encode(value)
        operation = self.operation(incoming.method, incoming.path)
        contract = self.contracts.get(operation.id) if operation and operation.contract else None
        violations = check_exchange(contract, answer.status_code, json_value(body), value)
        for violation in violations:
            log.warning("%s %s breaks its contract: %s", incoming.method, incoming.path, violation)
        headers = [
            (k, v) for k, v in answer.headers.multi_items() if k.lower() not in _NOT_RETURNED
        ]
        exchange = Exchange.of(
            incoming,
            data=body,
            status=answer.status_code,
            response_headers=tuple(headers),
            response_data=data,
            operation=operation.id if operation else None,
            secrets=operation.secrets if operation else self._secrets,
            violations=[str(v) for v in violations],
        )
        self.recorder.record(exchange, contract.operation if contract else None)
        response = Response(data, status=answer.status_code, headers=headers)
        if "content-type" not in answer.headers:
            del response.headers["Content-Type"]
        return response


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
    bodies over ``max_body_bytes`` get Graph's error body and are not recorded. Raises
    ``ValueError`` for a bad or foreign ``upstream`` (``allowed_hosts`` widens
    :data:`GRAPH_HOSTS`), :class:`~mockgraph.http.errors.StartupError` when ``out`` cannot be
    made."""
    target = Upstream.parse(upstream, GRAPH_HOSTS | set(allowed_hosts))
    recorder = Recorder(out, source=f"mockgraph record --upstream {target.url}")
    proxy = Proxy(target, recorder, Contracts.load() if contracts is None else contracts, timeout)
    app = Flask("mockgraph-record")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.extensions["mockgraph-record"] = proxy

    def forward(rest: str = "") -> Response:
        return proxy.handle(request)

    hosts = HostPolicy(None)

    def begin() -> None:
        intake.begin(request, hosts, {}, max_body_bytes)

    app.before_request(begin)
    app.add_url_rule(BASE_PATH, "forward", forward, methods=METHODS)
    app.add_url_rule(BASE_PATH + "/<path:rest>", "forward", forward, methods=METHODS)
    errors.install(app)
    return app


def proxy_of(app: Flask) -> Proxy:
    """The :class:`Proxy` of an app made by :func:`create_proxy`."""
    proxy: Proxy = app.extensions["mockgraph-record"]
    return proxy
