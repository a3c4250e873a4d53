"""``serve.bridge``: a mockgraph app (or a small WSGI app) behind the bridge, driven by fake
ASGI ``receive``/``send``: bodies received whole on the loop, the body deadline, the limits and
broken framing answered by the app, injected delays waited out on the loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.serve.bridge import Bridge, Message, environ_of
from mockgraph.state import mockgraph

LIMIT = 1000
KEYSETS = "/beta/trustFramework/keySets"
AUTH = (b"authorization", b"Bearer t")
JSON = (b"content-type", b"application/json")


@pytest.fixture
def app(contracts: Contracts) -> Flask:
    return create_app(Config(max_body_bytes=LIMIT), contracts=contracts)


@pytest.fixture
def bridge(app: Flask) -> Iterator[Bridge]:
    with ThreadPoolExecutor(2) as pool:
        yield Bridge(app, pool, max_body=LIMIT, body_timeout=0.2)


def scope(
    method: str = "GET", path: str = KEYSETS, headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), AUTH, *(headers or [])],
        "http_version": "1.1",
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "root_path": "",
    }


class Peer:
    """The server's side: hands out ``incoming`` (then waits forever, as a stalled client
    makes it), records what is sent."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.received = 0
        self.stalled = asyncio.Event()
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.incoming:
            self.stalled.set()
            await asyncio.Event().wait()
        self.received += 1
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def run(bridge: Bridge, request: dict[str, Any], peer: Peer) -> None:
    asyncio.run(asyncio.wait_for(bridge(request, peer.receive, peer.send), 5))


def echo_bridge(pool: ThreadPoolExecutor, **options: Any) -> tuple[Bridge, list[dict[str, Any]]]:
    """A bridge to a WSGI app that records the environ (with its body as ``body``) it saw."""
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append({**environ, "body": environ["wsgi.input"].read()})
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"made"]

    return Bridge(app, pool, max_body=LIMIT, **options), seen


# -- bodies --------------------------------------------------------------------------------------


def test_a_request_without_a_body_is_answered_without_receiving(bridge: Bridge) -> None:
    peer = Peer()  # receive() would wait forever
    run(bridge, scope(), peer)
    assert peer.status == 200
    assert peer.json()["value"] == []
    assert peer.received == 0


def test_a_body_in_pieces_reaches_the_app_whole(bridge: Bridge, app: Flask) -> None:
    data = json.dumps({"id": "pieces"}).encode()
    peer = Peer(body(data[:3], True), body(data[3:9], True), body(data[9:]))
    headers = [JSON, (b"content-length", str(len(data)).encode())]
    run(bridge, scope("POST", headers=headers), peer)
    assert peer.status == 201, peer.json()
    assert peer.json()["id"] == "B2C_1A_pieces"
    assert mockgraph(app).stores["keySets"].get("B2C_1A_pieces")


def test_a_chunked_body_reaches_the_app_as_a_body_of_known_length() -> None:
    with ThreadPoolExecutor(1) as pool:
        bridge, seen = echo_bridge(pool)
        peer = Peer(body(b"ab", True), body(b"cd"))
        run(bridge, scope("POST", headers=[(b"transfer-encoding", b"chunked")]), peer)
    assert seen[0]["body"] == b"abcd"
    assert seen[0]["CONTENT_LENGTH"] == "4"
    assert "HTTP_TRANSFER_ENCODING" not in seen[0]


def test_a_declared_oversized_body_is_not_received_and_the_app_answers_413(
    bridge: Bridge,
) -> None:
    peer = Peer(body(b"x" * 10))
    run(bridge, scope("POST", headers=[JSON, (b"content-length", b"%d" % (LIMIT + 1))]), peer)
    assert peer.status == 413
    assert peer.json()["error"]["message"] == f"The request body is larger than {LIMIT} bytes."
    assert peer.received == 0
    assert peer.headers[b"connection"] == b"close"  # the rest is never read: no keep-alive


def test_a_chunked_body_past_the_limit_stops_being_received(bridge: Bridge) -> None:
    peer = Peer(*(body(b"x" * 600, True) for _ in range(5)))
    run(bridge, scope("POST", headers=[JSON, (b"transfer-encoding", b"chunked")]), peer)
    assert peer.status == 413
    assert peer.received == 2
    assert peer.headers[b"connection"] == b"close"


# -- bodies that do not arrive -------------------------------------------------------------------


@pytest.mark.slow
def test_a_stalled_body_is_answered_408_by_the_app_and_journalled(
    bridge: Bridge, app: Flask
) -> None:
    peer = Peer(body(b"{", True))  # then nothing
    started = time.monotonic()
    run(bridge, scope("POST", headers=[JSON, (b"content-length", b"100")]), peer)
    assert 0.2 <= time.monotonic() - started < 2
    assert peer.status == 408
    error = peer.json()["error"]
    assert (error["code"], error["message"]) == (
        "requestTimeout",
        "The request body did not arrive in time.",
    )
    assert error["innerError"]["request-id"] == peer.headers[b"request-id"].decode()
    assert peer.headers[b"connection"] == b"close"
    [entry] = mockgraph(app).journal.entries()
    assert (entry.status, entry.error_code, entry.operation) == (
        408,
        "requestTimeout",
        "createKeySet",
    )
    assert len(mockgraph(app).stores["keySets"]) == 0


@pytest.mark.slow
def test_a_trickled_body_is_bounded_in_total_not_per_piece(app: Flask) -> None:
    async def trickle() -> Message:
        await asyncio.sleep(0.05)  # each piece well within the deadline
        return body(b" ", True)

    peer = Peer()
    with ThreadPoolExecutor(1) as pool:
        bridge = Bridge(app, pool, max_body=LIMIT, body_timeout=0.3)
        request = scope("POST", headers=[JSON, (b"content-length", b"900")])
        asyncio.run(asyncio.wait_for(bridge(request, trickle, peer.send), 5))
    assert peer.status == 408


def test_a_chunked_body_that_breaks_off_is_answered_400_by_the_app(
    bridge: Bridge, app: Flask
) -> None:
    # granian reports a chunk size that is not hexadecimal as a disconnect.
    peer = Peer(body(b'{"id"', True), {"type": "http.disconnect"})
    run(bridge, scope("POST", headers=[JSON, (b"transfer-encoding", b"chunked")]), peer)
    assert peer.status == 400
    assert peer.json()["error"] == {
        "code": "invalidRequest",
        "message": "The request body could not be read: its chunked framing is broken.",
        "innerError": peer.json()["error"]["innerError"],
    }
    assert peer.headers[b"connection"] == b"close"
    assert [e.status for e in mockgraph(app).journal.entries()] == [400]


def test_a_body_cut_short_of_its_declared_length_is_answered_400_by_the_app(
    bridge: Bridge, app: Flask
) -> None:
    # A client that half-closed is owed an answer; one that hung up never reads it.
    peer = Peer(body(b"{", True), {"type": "http.disconnect"})
    run(bridge, scope("POST", headers=[JSON, (b"content-length", b"100")]), peer)
    assert peer.status == 400
    assert peer.json()["error"]["message"] == "The request body ended before its declared length."
    assert peer.headers[b"connection"] == b"close"
    assert [e.status for e in mockgraph(app).journal.entries()] == [400]


def test_a_cancel_by_the_server_is_quiet(bridge: Bridge) -> None:
    async def go() -> list[Message]:
        peer = Peer()  # made on the loop: its Event belongs there
        request = scope("POST", headers=[(b"content-length", b"5")])
        task = asyncio.create_task(bridge(request, peer.receive, peer.send))
        await peer.stalled.wait()
        task.cancel()
        await task  # returns: no CancelledError escapes into the server's log
        return peer.sent

    assert asyncio.run(go()) == []


# -- where the app runs, and delays --------------------------------------------------------------


def test_inline_requests_run_on_the_loop_and_the_others_on_the_pool() -> None:
    names: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        names.append(threading.current_thread().name)
        start_response("204 No Content", [])
        return []

    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        bridge = Bridge(app, pool, inline=lambda environ: environ["REQUEST_METHOD"] == "GET")
        for method in ("GET", "DELETE"):
            peer = Peer()
            run(bridge, scope(method), peer)
            assert peer.status == 204
    assert names[0] == threading.current_thread().name
    assert names[1].startswith("pool")


@pytest.mark.slow
def test_an_injected_delay_is_awaited_on_the_loop_holding_no_thread(
    contracts: Contracts,
) -> None:
    app = create_app(Config(faults=("reads -> delay 300ms",)), contracts=contracts)

    def sleep_on_a_thread(seconds: float) -> None:
        raise AssertionError("the delay was slept on a thread")

    mockgraph(app).faults.sleep = sleep_on_a_thread  # type: ignore[method-assign]

    async def three_at_once(bridge: Bridge) -> list[Peer]:
        peers = [Peer() for _ in range(3)]
        await asyncio.gather(*(bridge(scope(), p.receive, p.send) for p in peers))
        return peers

    with ThreadPoolExecutor(1) as pool:  # every request goes to the one thread
        bridge = Bridge(app, pool)
        started = time.monotonic()
        peers = asyncio.run(three_at_once(bridge))
        elapsed = time.monotonic() - started
    assert [p.status for p in peers] == [200, 200, 200]
    assert 0.3 <= elapsed < 0.6  # together, not one after the other
    assert all(e.duration_ms >= 300 for e in mockgraph(app).journal.entries())


def test_lifespan_is_acknowledged_and_shutdown_runs_on_shutdown(app: Flask) -> None:
    closed: list[str] = []
    bridge = Bridge(app, ThreadPoolExecutor(1), on_shutdown=lambda: closed.append("closed"))
    peer = Peer({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    asyncio.run(bridge({"type": "lifespan"}, peer.receive, peer.send))
    assert [m["type"] for m in peer.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert closed == ["closed"]


# -- the environ ---------------------------------------------------------------------------------


def test_the_environ_is_pep_3333_strings_whatever_the_header_bytes() -> None:
    environ = environ_of(
        {
            "method": "GET",
            "path": "/caf\u00e9",
            "query_string": b"q=caf\xc3\xa9",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.2", 5000),
            "scheme": "https",
            "headers": [(b"x-a", b"1"), (b"x-a", b"2"), (b"x-name", b"caf\xe9")],
        }
    )
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9"
    assert environ["QUERY_STRING"] == "q=caf\u00c3\u00a9"
    assert environ["HTTP_X_A"] == "1,2"
    assert environ["HTTP_X_NAME"] == "caf\u00e9"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("127.0.0.2", "5000")
    assert (environ["SCRIPT_NAME"], environ["SERVER_PROTOCOL"]) == ("", "HTTP/1.1")
    assert environ["wsgi.url_scheme"] == "https"


def test_content_type_and_length_are_not_http_headers_in_the_environ() -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    environ = environ_of({"method": "POST", "path": "/", "headers": headers})
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("application/json", "2")
    assert "HTTP_CONTENT_TYPE" not in environ
