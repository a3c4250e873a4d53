"""The first request step: the request's :class:`~mockgraph.http.facts.Facts` made, and what no
part of the mock can answer refused before routing: a foreign ``Host`` (DNS rebinding), a path
starting with ``//``, a URL or query string that is not UTF-8, a ``client-request-id`` that is
not printable ASCII, a body over the size limit or not received whole."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.exceptions import NotFound
from werkzeug.wsgi import get_content_length

from mockgraph.http.errors import BadRequest, PayloadTooLarge, RequestTimeout
from mockgraph.http.facts import BODY_PROBLEM, FACTS_KEY, Facts, new_request_id

if TYPE_CHECKING:
    from mockgraph.http.routing import Operation

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_HOST = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::\d*)?\Z")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` (and its subdomains, RFC 6761), 127.0.0.0/8 and ``::1``."""
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """``example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``::1``; a header of
    another form (``[::1].evil.example``) is returned whole."""
    if (match := _HOST.match(host_header)) is None:
        return host_header
    return match["name"] if match["v6"] is None else match["v6"]


class HostPolicy:
    """The ``Host`` headers answered: loopback names and addresses, and ``names``; any host
    when ``names`` is ``None`` (a server reachable from the network by choice)."""

    def __init__(self, names: Iterable[str] | None) -> None:
        self.names = None if names is None else frozenset(n.strip("[]").lower() for n in names)
        self._seen: dict[str, bool] = {}  # a client sends the same Host on every request

    def allows(self, host_header: str | None) -> bool:
        if self.names is None:
            return True
        if not host_header:
            return False
        if (known := self._seen.get(host_header)) is not None:
            return known
        name = host_name(host_header)
        allowed = is_loopback(name) or name.lower() in self.names
        if len(self._seen) < 256:
            self._seen[host_header] = allowed
        return allowed


def begin(
    req: Request, hosts: HostPolicy, operations: Mapping[str, Operation], max_body_bytes: int
) -> Facts:
    """Make the request's facts (kept in its environ, returned), then refuse what nothing may
    answer."""
    environ = req.environ
    path = environ.get("PATH_INFO", "")
    # werkzeug's router would answer "//beta/x" as "/beta/x"; Graph has no such URL.
    foreign_path = path.startswith("//")
    request_id = new_request_id()
    environ[FACTS_KEY] = known = Facts(
        started=time.perf_counter(),
        arrived=time.time(),
        request_id=request_id,
        client_request_id=request_id,
        operation=None if foreign_path else operations.get(req.endpoint or ""),
    )
    client_request_id = environ.get("HTTP_CLIENT_REQUEST_ID")
    if client_request_id is not None:
        if not (client_request_id.isascii() and client_request_id.isprintable()):
            raise BadRequest("The header 'client-request-id' must be printable ASCII text.")
        known.client_request_id = client_request_id
    if not hosts.allows(environ.get("HTTP_HOST")):
        raise BadRequest("The Host header names a host this server does not answer for.")
    if foreign_path:
        raise NotFound()
    _check_utf8(path, "The request URL")
    for part in filter(None, environ.get("QUERY_STRING", "").split("&")):
        _check_utf8(part, f"The query option '{_shown(part.split('=', 1)[0])}'", percent=True)
    length = get_content_length(environ)
    if length is not None and length > max_body_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_body_bytes} bytes.")
    problem = environ.get(BODY_PROBLEM)
    if problem == "timeout":
        raise RequestTimeout("The request body did not arrive in time.")
    if problem == "incomplete":
        raise BadRequest("The request body ended before its declared length.")
    if problem is not None:
        raise BadRequest("The request body could not be read: its chunked framing is broken.")
    return known


def _check_utf8(text: str, subject: str, *, percent: bool = False) -> None:
    """WSGI gives URL bytes as latin-1 text; they must be UTF-8 (percent-escapes decoded)."""
    if text.isascii() and not (percent and "%" in text):
        return
    raw = text.encode("latin-1", "replace")
    try:
        (unquote_to_bytes(raw) if percent else raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{subject} is not valid UTF-8.") from None


def _shown(name: str) -> str:
    """An option name for a message: its escapes decoded where they are UTF-8, else left."""
    try:
        return unquote_to_bytes(name.encode("latin-1", "replace")).decode("utf-8")
    except UnicodeDecodeError:
        return name.encode("ascii", "backslashreplace").decode()
