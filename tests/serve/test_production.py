"""``mockgraph serve`` as a real process, on granian (one worker process) and on ``--dev``: the
graceful stop (the request in flight finishes, exit status 0) and its deadline, clients that
stall or idle, the port, and which requests hold a thread. HTTPS: ``test_tls.py``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from serve_process import PACKAGE_ROOT, ServeProcess, answers, build_command

from mockgraph.serve.production import DRAIN_SECONDS, HEADER_SECONDS
from mockgraph.serve.worker import BODY_TIMEOUT, QUICK_BODY_BYTES

pytestmark = pytest.mark.slow

KEYSETS = "/beta/trustFramework/keySets"
NEW_KEY = {"use": "sig", "kty": "RSA"}
SERVERS = ["granian", "dev"]
HEAD = "Host: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
#: A create whose body stops after its first byte.
STALLED = (
    f"POST {KEYSETS} HTTP/1.1\r\n{HEAD}Content-Type: application/json\r\n"
    "Content-Length: 100\r\n\r\n{"
).encode()
#: A read held back far longer than a stop waits.
HELD = f"GET {KEYSETS} HTTP/1.1\r\n{HEAD}X-MockGraph-Fault: delay 30s\r\n\r\n".encode()


def _serve(tmp_path: Path, server: str, *args: str) -> ServeProcess:
    return ServeProcess(tmp_path / "serve.log", *args, *(["--dev"] if server == "dev" else []))


def _timed(call: Callable[[], Any]) -> Future[tuple[Any, float]]:
    """``call()`` on a thread of its own: its result and the seconds it took."""
    result: Future[tuple[Any, float]] = Future()

    def run() -> None:
        started = time.monotonic()
        try:
            outcome = call()
        except BaseException as exc:  # handed to the test, which re-raises it
            result.set_exception(exc)
        else:
            result.set_result((outcome, time.monotonic() - started))

    threading.Thread(target=run, daemon=True).start()
    return result


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:  # reset: what a killed worker leaves
        pass
    return data


# -- the graceful stop ---------------------------------------------------------------------------


def _stop_with_a_request_in_flight(served: ServeProcess, stop: Callable[[], int]) -> None:
    delayed = _timed(
        lambda: served.request("GET", KEYSETS, headers={"X-MockGraph-Fault": "delay 1s"})
    )
    time.sleep(0.3)  # the request is in flight
    status = stop()
    answer, took = delayed.result(timeout=30)
    assert answer[0] == 200
    assert answer[1]["value"] == []
    assert took >= 1
    assert status == 0


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    server: str, tmp_path: Path
) -> None:
    with _serve(tmp_path, server) as served:
        _stop_with_a_request_in_flight(served, served.stop)


@pytest.mark.skipif(sys.platform == "win32", reason="no Ctrl+C to a process group there")
@pytest.mark.parametrize("server", SERVERS)
def test_ctrl_c_lets_the_request_in_flight_finish_then_exits_0(server: str, tmp_path: Path) -> None:
    with _serve(tmp_path, server) as served:
        idle = served.connection()  # an idle keep-alive connection holds no stop
        assert served.request("GET", KEYSETS, conn=idle)[0] == 200
        _stop_with_a_request_in_flight(served, served.interrupt)
        idle.close()


@dataclass(frozen=True)
class Stopped:
    """A stop (SIGTERM) with one client holding a request: the exit status, the seconds from
    the signal to the exit, what the client got and when, from its request on."""

    status: int
    exited_after: float
    answer: bytes
    answered_after: float


def _stop_holding(tmp_path: Path, request: bytes, *args: str) -> Stopped:
    with ServeProcess(tmp_path / "serve.log", *args) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=60) as client:
            client.sendall(request)
            answered = _timed(lambda: _read_until_closed(client))
            time.sleep(1)  # the request is in flight
            signalled = time.monotonic()
            status = served.stop(timeout=60)
            exited = time.monotonic()
            answer, took = answered.result(timeout=30)
    return Stopped(status, exited - signalled, answer, took)


#: The stops that wait for a deadline, each ~10 s: run together, once, on first use.
HOLDING = {
    "granian-stalled": (STALLED,),
    "dev-stalled": (STALLED, "--dev"),
    "granian-held": (HELD,),
    "dev-held": (HELD, "--dev"),
}


@pytest.fixture(scope="module")
def stops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Stopped]]]:
    with ThreadPoolExecutor(len(HOLDING)) as pool:
        yield {
            name: pool.submit(_stop_holding, tmp_path_factory.mktemp(name), *how)
            for name, how in HOLDING.items()
        }


def test_a_client_stalled_mid_body_gets_a_graph_408_and_the_stop_exits_0(
    stops: dict[str, Future[Stopped]],
) -> None:
    stopped = stops["granian-stalled"].result(timeout=120)
    assert stopped.status == 0
    assert stopped.exited_after <= DRAIN_SECONDS + 2
    head, _, body = stopped.answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), stopped.answer
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert (error["code"], error["message"]) == (
        "requestTimeout",
        "The request body did not arrive in time.",
    )
    assert BODY_TIMEOUT - 0.5 <= stopped.answered_after <= BODY_TIMEOUT + 3


def test_the_dev_server_stops_with_exit_0_despite_a_client_stalled_mid_body(
    stops: dict[str, Future[Stopped]],
) -> None:
    stopped = stops["dev-stalled"].result(timeout=120)
    assert stopped.status == 0
    assert stopped.exited_after <= DRAIN_SECONDS + 2


@pytest.mark.parametrize("server", SERVERS)
def test_a_stop_ends_a_request_still_held_at_the_drain_deadline_and_exits_0(
    server: str, stops: dict[str, Future[Stopped]]
) -> None:
    stopped = stops[f"{server}-held"].result(timeout=120)
    assert stopped.status == 0
    assert DRAIN_SECONDS - 1 <= stopped.exited_after <= DRAIN_SECONDS + 3
    assert stopped.answer == b""  # closed unanswered: the 30 s were not waited out


# -- clients that stall or idle, and requests that wait ------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(
    server: str, tmp_path: Path
) -> None:
    with ServeProcess(tmp_path / "serve.log", *(["--dev"] if server == "dev" else [])) as served:
        silent = socket.create_connection(("127.0.0.1", served.port), timeout=HEADER_SECONDS + 10)
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the server
        assert HEADER_SECONDS - 1 <= time.monotonic() - started <= HEADER_SECONDS + 3
        silent.close()


@pytest.fixture(scope="module")
def one_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """granian with one thread in its pool, for the tests that only send it requests."""
    log = tmp_path_factory.mktemp("one-thread") / "serve.log"
    with ServeProcess(log, "--threads", "1") as served:
        yield served


def _raise_open_files_limit(wanted: int) -> None:
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def test_idle_and_stalled_connections_never_keep_a_fresh_client_from_an_answer(
    one_thread: ServeProcess,
) -> None:
    _raise_open_files_limit(2048)
    # One thread: a stalled body that held it would leave none for the control API.
    served = one_thread
    held: list[socket.socket] = []
    try:
        get = f"GET {KEYSETS} HTTP/1.1\r\n{HEAD}\r\n".encode()
        for _ in range(300):  # keep-alive connections, idle after one answer
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            held.append(sock)
            sock.sendall(get)
        for sock in held:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            held.append(sock)
            sock.sendall(STALLED)
        until = time.monotonic() + 1.5
        answered = 0
        while time.monotonic() < until:
            for path in (KEYSETS, "/_mockgraph/health"):  # on the loop; on the thread
                started = time.monotonic()
                assert served.request("GET", path)[0] == 200
                assert time.monotonic() - started < 1.0, path
                answered += 1
            time.sleep(0.05)
        assert answered >= 10
    finally:
        for sock in held:
            sock.close()


def test_a_generate_key_in_flight_does_not_stall_reads_or_quick_writes(tmp_path: Path) -> None:
    release = tmp_path / "release"
    command = build_command("serve_process:mock_with_held_generation", release=str(release))
    with ServeProcess(tmp_path / "serve.log", command=command) as served:
        assert served.request("POST", KEYSETS, {"id": "a"})[0] == 201
        generating = _timed(
            lambda: served.request("POST", KEYSETS + "/B2C_1A_a/generateKey", NEW_KEY)
        )
        deadline = time.monotonic() + 30
        while "held" not in served.output() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "held" in served.output(), served.output()
        assert served.request("GET", KEYSETS + "/B2C_1A_a")[0] == 200
        assert served.request("POST", KEYSETS, {"id": "b"})[0] == 201
        assert served.request("GET", "/_mockgraph/health")[0] == 200
        assert not generating.done()
        release.touch()
        (status, key, _), _ = generating.result(timeout=30)
        assert (status, key["kty"]) == (200, "RSA")


def test_an_injected_delay_holds_no_thread(one_thread: ServeProcess) -> None:
    served = one_thread
    delay = {"X-MockGraph-Fault": "delay 2s"}
    # Creates with a body past QUICK_BODY_BYTES are answered on the one thread, then held.
    padding = " " * (QUICK_BODY_BYTES + 1)
    creates = [f'{{"id": "delayed{n}"}}{padding}'.encode() for n in range(3)]
    delayed = [
        _timed(lambda body=body: served.request("POST", KEYSETS, body, delay)) for body in creates
    ]
    delayed += [_timed(lambda: served.request("GET", KEYSETS, headers=delay)) for _ in range(3)]
    time.sleep(0.5)
    for path in (KEYSETS, "/_mockgraph/health"):  # on the loop; on the thread
        started = time.monotonic()
        assert served.request("GET", path)[0] == 200
        assert time.monotonic() - started < 1.0, path
    for future in delayed:
        (status, _, _), took = future.result(timeout=30)
        assert status in (200, 201)
        assert took >= 2


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n{}\r\n0\r\n\r\n", b'4\r\n{"id\r\nzz\r\n'],
    ids=["first-chunk", "second-chunk"],
)
def test_a_broken_chunked_body_is_answered_400_by_the_app(
    body: bytes, one_thread: ServeProcess
) -> None:
    # granian reports the broken framing to the app as a disconnect; the app answers.
    with socket.create_connection(("127.0.0.1", one_thread.port), timeout=10) as sock:
        sock.sendall(
            f"POST {KEYSETS} HTTP/1.1\r\n{HEAD}Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + body
        )
        answer = _read_until_closed(sock)
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"connection: close" in head.lower()
    assert json.loads(content)["error"]["message"] == (
        "The request body could not be read: its chunked framing is broken."
    )


# -- the port ------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_port_in_use_is_one_line_and_a_non_zero_exit(server: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mockgraph", "serve", "--port", str(port)]
            + (["--dev"] if server == "dev" else []),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=PACKAGE_ROOT,
        )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"Error: cannot bind 127.0.0.1:{port}: Address already in use"
    ]


def _check_banner(served: ServeProcess) -> None:
    banner = served.output().splitlines()
    assert served.port != 0
    assert f"http://127.0.0.1:{served.port}/beta" in banner[0]
    assert all(":0/" not in line for line in banner)
    assert served.request("GET", KEYSETS)[0] == 200


def test_port_0_serves_on_a_free_port_named_in_the_banner(one_thread: ServeProcess) -> None:
    _check_banner(one_thread)


def test_port_0_serves_the_dev_server_on_a_free_port_named_in_the_banner(tmp_path: Path) -> None:
    with _serve(tmp_path, "dev") as served:
        _check_banner(served)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of one process is a POSIX test")
def test_a_worker_whose_server_was_killed_ends_and_frees_the_port_and_state_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    with ServeProcess(tmp_path / "first.log", "--state-file", str(state)) as first:
        port = int(first.root.rsplit(":", 1)[1])
        first.process.send_signal(signal.SIGKILL)  # the server alone: its worker is orphaned
        first.process.wait(30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and answers("http", port):
            time.sleep(0.1)
        assert not answers("http", port), "the orphaned worker still answers"
    with ServeProcess(tmp_path / "second.log", "--state-file", str(state)) as second:
        assert second.request("GET", "/_mockgraph/health")[0] == 200
