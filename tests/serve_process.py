"""``mockgraph serve --port 0`` (or another serving command) in a subprocess, for tests that need
the real production server or a process they can signal or kill: the root URL read back from the
banner, ready once it answers. ``MOCKGRAPH_HOME`` is a folder of the test's own, so no test
touches the user's CA or signing key."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask

import mockgraph

#: The banner names the root URL once the port is bound.
URL = re.compile(r"(https?)://127\.0\.0\.1:(\d+)/beta")
#: Generous: a loaded CI machine imports Flask, jsonschema and cryptography slowly.
START_TIMEOUT = 60.0
PACKAGE_ROOT = Path(mockgraph.__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
#: ``production.serve`` of a ``Build`` (factory, JSON keyword arguments) on a free port.
_LAUNCH = """
import json, sys
from mockgraph.serve.production import Listen, serve
from mockgraph.serve.worker import Build

def announce(root, port):
    print(f"serving {root}/beta", file=sys.stderr, flush=True)

build = Build(sys.argv[1], json.loads(sys.argv[2]))
sys.exit(serve(build, Listen("127.0.0.1", 0), announce=announce))
"""


class ServeProcess:
    """A running ``mockgraph serve --port 0 [args]`` (or ``command``, which must print the
    banner's URL on stderr); its stderr goes to ``log``. It runs in a session of its own, so
    :meth:`interrupt` can press Ctrl+C as a terminal does: SIGINT to every process of it."""

    def __init__(
        self,
        log: Path,
        *args: str,
        home: Path | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(PACKAGE_ROOT), str(TESTS)]),
            PYTHONUNBUFFERED="1",
            MOCKGRAPH_HOME=str(home if home is not None else log.parent / "mockgraph-home"),
        )
        argv = list(command or [sys.executable, "-m", "mockgraph", "serve", "--port", "0"])
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*argv, *args],
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=env,
                start_new_session=sys.platform != "win32",
            )
        self.scheme, self.port = self._wait_until_answering()

    @property
    def root(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What the process wrote on stderr so far: the banner, then the request log."""
        return self.log.read_text(errors="replace")

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        """A new connection to the server (HTTPS without checking the certificate)."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=_unverified()
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, Any, http.client.HTTPResponse]:
        """Status, JSON body (or ``None``) and response of a request with a bearer token, on
        ``conn`` or a new connection; ``body`` is sent as JSON, or as it is if it is bytes."""
        own = conn is None
        conn = conn or self.connection()
        try:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            sent = {"Authorization": "Bearer t", **(headers or {})}
            if data:
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, response
        finally:
            if own:
                conn.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` to the server process alone; its exit status."""
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl+C in a terminal: SIGINT to the server and its worker; the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def _wait_until_answering(self) -> tuple[str, int]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = URL.search(self.output())
            # The URL is announced once the port is bound, a moment before it is served.
            if found and answers(found.group(1), int(found.group(2))):
                return found.group(1), int(found.group(2))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError("mockgraph serve did not start:\n" + self.output())

    def kill(self) -> None:
        """SIGKILL on POSIX, TerminateProcess on Windows: no chance to clean up."""
        if sys.platform != "win32":
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # its worker too, left or not
            except (ProcessLookupError, PermissionError):
                pass
        self.process.kill()
        self.process.wait(30)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def answers(scheme: str, port: int) -> bool:
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=5, context=_unverified()
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/_mockgraph/health")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def build_command(factory: str, **kwargs: Any) -> list[str]:
    """The command serving the app of ``factory(**kwargs)`` (``module:function``, importable
    from tests/) on granian, as ``mockgraph serve`` does: a :class:`ServeProcess` ``command``."""
    return [sys.executable, "-c", _LAUNCH, factory, json.dumps(kwargs)]


def mock_with_held_generation(release: str) -> Flask:
    """The mock, its RSA key generation held until the file ``release`` exists (``held`` is
    printed on stderr meanwhile): a generateKey in flight for as long as a test wants."""
    from mockgraph import Config, create_app
    from mockgraph.resources.keysets import keys

    generate = keys.generate_rsa

    def held(*args: Any, **kwargs: Any) -> Any:
        print("held", file=sys.stderr, flush=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        return generate(*args, **kwargs)

    keys.generate_rsa = held
    return create_app(Config())
