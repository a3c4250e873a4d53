"""The connections of the live server's Werkzeug server: one answer per connection, a silent
connection closed after the idle timeout, every connection closed and its thread joined by a
stop (a request in flight still answered), and TLS handshakes that cannot stall the server."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from mockgraph import Config, MockGraphServer, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.serve.threaded import bind

AUTH = {"Authorization": "Bearer t"}
KEYSETS = "/trustFramework/keySets"


@pytest.fixture(scope="module")
def shared_app(contracts: Contracts) -> Flask:
    """One app for the module (building one costs tens of ms); each test resets it."""
    return create_app(Config(), contracts=contracts)


def connection_threads(live: MockGraphServer) -> list[threading.Thread]:
    """The server's connection threads that are running (started, not ended)."""
    name = f"mockgraph-connection-{live.port}"
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def silent_connection(live: MockGraphServer) -> tuple[socket.socket, threading.Thread]:
    """A connection that sends nothing, once the server has given it a thread."""
    connection = socket.create_connection(("127.0.0.1", live.port), timeout=10)
    deadline = time.monotonic() + 10
    while not connection_threads(live) and time.monotonic() < deadline:
        time.sleep(0.01)
    [thread] = connection_threads(live)
    return connection, thread


def test_each_answer_closes_its_connection_and_thread(shared_app: Flask) -> None:
    with MockGraphServer(app=shared_app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/beta" + KEYSETS, headers=AUTH)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200 and answer.getheader("Connection") == "close"
        assert connection.sock is None  # http.client closed it, as the answer said
        deadline = time.monotonic() + 10
        while connection_threads(server) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert connection_threads(server) == []


@pytest.mark.slow
def test_a_silent_connection_is_closed_after_the_idle_timeout(shared_app: Flask) -> None:
    with MockGraphServer(app=shared_app, idle_timeout=0.3) as live:
        connection, thread = silent_connection(live)
        with connection:
            thread.join(5)
            assert not thread.is_alive()
            assert connection.recv(1) == b""  # closed by the server


def test_stop_closes_open_connections_and_joins_their_threads(shared_app: Flask) -> None:
    with MockGraphServer(app=shared_app) as live:  # silent connections would stay a minute
        connection, thread = silent_connection(live)
        started = time.monotonic()
        live.stop()
    with connection:
        assert time.monotonic() - started < 5
        assert not thread.is_alive()
        assert connection.recv(1) == b""


@pytest.mark.slow
def test_a_request_in_flight_when_stop_is_called_still_gets_its_answer(
    contracts: Contracts,
) -> None:
    live = MockGraphServer(app=create_app(Config(), contracts=contracts))
    in_view = threading.Event()

    def hold(seconds: float) -> None:  # the injected delay: held until stop() has begun
        in_view.set()
        while live.running:
            time.sleep(0.01)
        time.sleep(0.1)

    live.state.faults.sleep = hold
    answers: list[int] = []

    def call() -> None:
        headers = {**AUTH, "X-MockGraph-Fault": "delay 1ms"}
        answers.append(requests.get(live.url + KEYSETS, headers=headers, timeout=10).status_code)

    with live:
        caller = threading.Thread(target=call)
        caller.start()
        assert in_view.wait(10)
    caller.join(10)
    assert answers == [200]


def test_a_client_that_never_makes_its_tls_handshake_stalls_nobody(
    shared_app: Flask, ca_home: Path
) -> None:
    with (
        MockGraphServer(app=shared_app, tls=True) as https,
        socket.create_connection(("127.0.0.1", https.port), timeout=10),  # silent
    ):
        with https.session() as session:
            answer = session.get(https.url + KEYSETS, headers=AUTH, timeout=10)
        assert answer.status_code == 200
        started = time.monotonic()
        https.stop()
        assert time.monotonic() - started < 5


@pytest.mark.slow
def test_a_body_that_stops_arriving_gets_a_graph_408_after_the_idle_timeout(
    shared_app: Flask,
) -> None:
    with MockGraphServer(app=shared_app, idle_timeout=0.5) as live:
        head = f"POST /beta{KEYSETS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
        head += "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as connection:
            connection.sendall(head.encode())
            answer = connection.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"code":"requestTimeout"' in answer
        assert len(live.store) == 0


def test_a_host_name_binds_its_ipv4_address_even_when_ipv6_comes_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = socket.SOCK_STREAM
    answers = [
        (socket.AF_INET6, stream, 6, "", ("::1", 0, 0, 0)),
        (socket.AF_INET, stream, 6, "", ("127.0.0.1", 0)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *_, **__: answers)
    with bind("localhost", 0) as listener:
        assert listener.getsockname()[0] == "127.0.0.1"


def test_the_unspecified_ipv6_address_answers_ipv4_where_the_system_can() -> None:
    with bind("::", 0) as listener:
        try:
            socket.create_connection(("127.0.0.1", listener.getsockname()[1]), timeout=5).close()
            answered = True
        except OSError:
            answered = False
    assert answered == socket.has_dualstack_ipv6()
