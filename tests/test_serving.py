"""``mockgraph serve``'s servers: which one runs, the URL it prints, the addresses it refuses,
and the graceful stop (the request in flight finishes, exit status 0), checked on real
processes for every server this machine has."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from mockgraph import cli, serving
from mockgraph.config import Config
from mockgraph.errors import StartupError

ROOT = Path(serving.__file__).resolve().parent.parent
URL = re.compile(r"http://(127\.0\.0\.1):(\d+)/beta")
SERVERS = [*serving.available_servers(), serving.DEV_SERVER]

#: A process serving a test app whose GET /slow prints "started", then waits for a file to
#: appear before it answers: the test decides when the request in flight may finish.
SLOW_APP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flask import Flask
    from mockgraph.config import Config
    from mockgraph.serving import run

    server, release = sys.argv[1], Path(sys.argv[2])
    app = Flask("slow")

    @app.get("/slow")
    def slow():
        print("started", flush=True)
        for _ in range(2000):
            if release.exists():
                break
            time.sleep(0.005)
        return {"finished": True}

    @app.get("/fast")
    def fast():
        return {"fast": True}

    dev = server == "werkzeug"
    sys.exit(run(app, Config(port=0), dev=dev, threads=4, server="auto" if dev else server))
    """
)


class Served:
    """A serving subprocess, its port and the line it printed on start."""

    def __init__(self, process: subprocess.Popen[str], port: int, banner: str) -> None:
        self.process = process
        self.port = port
        self.banner = banner

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


@pytest.fixture
def serve_slow(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(server: str) -> tuple[Served, Path]:
        script = tmp_path / "slow_app.py"
        script.write_text(SLOW_APP)
        release = tmp_path / "release"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, str(script), server, str(release)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(process)
        assert process.stderr is not None
        line = process.stderr.readline()
        found = URL.search(line)
        assert found, f"no URL printed: {line!r}{process.stderr.read() if not line else ''}"
        threading.Thread(target=process.stderr.read, daemon=True).start()
        return Served(process, int(found.group(2)), line), release

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _get(served: Served, path: str) -> tuple[int, bytes]:
    """GET on a new connection (the URL is printed only once the server accepts them)."""
    conn = served.connection()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wait_until_refused(served: Served) -> None:
    """Return once the server no longer accepts connections."""
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
        except ConnectionRefusedError:
            return
        threading.Event().wait(0.02)
    raise AssertionError("the server kept accepting connections after SIGTERM")


# -- choosing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses_are_recognised(host: str) -> None:
    assert serving.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com", ""])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not serving.is_loopback(host)


def test_base_url_puts_an_ipv6_address_in_brackets() -> None:
    assert serving.base_url("::1", 8000) == "http://[::1]:8000/beta"
    assert serving.base_url("127.0.0.1", 0) == "http://127.0.0.1:0/beta"


def test_auto_picks_granian_where_it_is_installed_else_waitress() -> None:
    expected = serving.available_servers()[0]
    assert serving.choose_server("auto") == expected
    assert expected == ("granian" if "granian" in serving.available_servers() else "waitress")


def test_dev_always_means_the_werkzeug_development_server() -> None:
    assert serving.choose_server("auto", dev=True) == "werkzeug"
    assert serving.choose_server("waitress", dev=True) == "werkzeug"


def test_the_development_server_is_refused_without_dev() -> None:
    with pytest.raises(StartupError, match="only with --dev"):
        serving.choose_server("werkzeug")


def test_an_unknown_server_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(StartupError, match="unknown server 'uvicorn'.*granian"):
        serving.choose_server("uvicorn")


@pytest.mark.parametrize("server", SERVERS)
def test_a_port_in_use_is_a_startup_error_not_a_traceback(server: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = server == serving.DEV_SERVER
        with pytest.raises(StartupError, match=f"cannot bind 127.0.0.1:{port}"):
            serving.run(
                Flask("unused"),
                Config(port=port),
                dev=dev,
                server="auto" if dev else server,
                announce=lambda line: None,
            )


# -- serving and stopping (real processes) -------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    server: str, serve_slow: Any
) -> None:
    served, release = serve_slow(server)
    assert f"with {server} (" in served.banner
    if server != serving.DEV_SERVER:
        assert "(1 process, 4 threads)" in served.banner
    assert _get(served, "/fast")[0] == 200
    answer: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            answer["status"], answer["body"] = _get(served, "/slow")
        except OSError as exc:  # what a server that drops requests in flight gives
            answer["error"] = exc

    client = threading.Thread(target=slow_request)
    client.start()
    assert served.process.stdout is not None
    assert served.process.stdout.readline().strip() == "started"
    served.process.send_signal(signal.SIGTERM)
    _wait_until_refused(served)  # the stop is under way
    # Give a server that would drop the request in flight the time to quit, then let the
    # request finish.
    threading.Event().wait(0.3)
    assert served.process.poll() is None, "the server quit with a request in flight"
    release.touch()
    client.join(timeout=30)
    assert answer.get("status") == 200, answer
    assert answer["body"] == b'{"finished":true}\n'
    assert served.process.wait(timeout=30) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to one process there")
def test_sigint_with_an_idle_keep_alive_connection_stops_with_exit_status_0(
    serve_slow: Any,
) -> None:
    served, _ = serve_slow(serving.choose_server("auto"))
    assert _get(served, "/fast")[0] == 200
    conn = served.connection()
    conn.request("GET", "/fast")
    response = conn.getresponse()
    response.read()
    assert response.getheader("Connection", "keep-alive").lower() != "close"
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=30) == 0
    conn.close()


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace serving.run in the CLI: record what it is asked to do, serve nothing (and build
    a stand-in app: the real one is tested elsewhere)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "create_app", lambda config: Flask("stand-in"))

    def record(app: Flask, config: Config, **options: Any) -> int:
        calls.append({"config": config, **options})
        return 0

    monkeypatch.setattr(cli, "run", record)
    return calls


def test_serve_refuses_a_remote_address_without_allow_remote(fake_run: list[Any]) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "refusing to bind 0.0.0.0" in result.output
    assert "--allow-remote" in result.output
    assert fake_run == []


def test_serve_with_allow_remote_binds_it_and_warns_loudly(fake_run: list[Any]) -> None:
    result = CliRunner().invoke(
        cli.main, ["serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote"]
    )
    assert result.exit_code == 0, result.output
    assert "WARNING: mockgraph is reachable from other machines on 0.0.0.0" in result.output
    assert fake_run[0]["config"].host == "0.0.0.0"


def test_serve_on_loopback_says_nothing_about_remote_access(fake_run: list[Any]) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    assert fake_run[0]["config"].host == "127.0.0.1"


def test_serve_passes_dev_threads_and_server_to_the_runner(fake_run: list[Any]) -> None:
    result = CliRunner().invoke(
        cli.main, ["serve", "--port", "0", "--server", "waitress", "--threads", "4"]
    )
    assert result.exit_code == 0, result.output
    assert fake_run[0]["threads"] == 4
    assert fake_run[0]["server"] == "waitress"
    assert fake_run[0]["dev"] is False
    CliRunner().invoke(cli.main, ["serve", "--port", "0", "--dev"])
    assert fake_run[1]["dev"] is True


def test_serve_reports_a_port_in_use_as_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(app: Flask, config: Config, **options: Any) -> int:
        raise StartupError(f"cannot bind 127.0.0.1:{config.port}: Address already in use")

    monkeypatch.setattr(cli, "run", refuse)
    monkeypatch.setattr(cli, "create_app", lambda config: Flask("stand-in"))
    result = CliRunner().invoke(cli.main, ["serve", "--port", "8123"])
    assert result.exit_code == 1
    assert "Error: cannot bind 127.0.0.1:8123: Address already in use" in result.output
    assert "Traceback" not in result.output
