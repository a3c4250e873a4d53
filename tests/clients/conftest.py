"""``mockgraph serve --tls`` started as a user starts it, for the tests of the real clients
(Node, azure-identity, MSAL, the Python SDK, Chromium): a subprocess on port 0 whose port is read
from the banner, its CA in a temporary ``MOCKGRAPH_HOME`` and found with ``mockgraph ca``.

A module starts one server (the ``serve_https`` factory in a module-scoped fixture, with the
options it needs) and its tests share it, each starting from a reset mock. A failed test's
report gets the server's request log of that test (its stderr).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

#: The banner's first line names the URL once the server answers.
BANNER = re.compile(r"mockgraph serving (https://127\.0\.0\.1:\d+)/beta")
#: ``mockgraph ca`` prints the Chromium flag among its comment lines.
PIN = re.compile(r"--ignore-certificate-errors-spki-list=(\S+)")
#: Generous: a loaded CI machine imports Flask, jsonschema and cryptography slowly.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def mockgraph_command() -> list[str]:
    """The ``mockgraph`` script installed beside this Python (what a user types), else
    ``python -m mockgraph``."""
    script = shutil.which("mockgraph", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mockgraph"]


def server_env(home: Path) -> dict[str, str]:
    """This environment with ``MOCKGRAPH_HOME`` set and no other ``MOCKGRAPH_*`` setting
    (a developer's own would change the server under test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKGRAPH_")}
    return dict(env, MOCKGRAPH_HOME=str(home))


@dataclass(frozen=True)
class Trust:
    """The CA a ``MOCKGRAPH_HOME`` holds: its certificate (what clients trust) and the SPKI
    pin Chromium takes."""

    home: Path
    ca: Path
    pin: str

    @classmethod
    def of(cls, home: Path) -> Trust:
        """Run ``mockgraph ca`` in ``home``: the CA's path is its last line."""
        printed = mockgraph(home, "ca")
        pin = PIN.search(printed)
        assert pin is not None, printed
        return cls(home, Path(printed.strip().splitlines()[-1]), pin.group(1))


def mockgraph(home: Path, *args: str) -> str:
    """What ``mockgraph *args`` prints with ``MOCKGRAPH_HOME=home``."""
    done = subprocess.run(
        [*mockgraph_command(), *args],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert done.returncode == 0, f"mockgraph {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


class HttpsMock:
    """A running ``mockgraph serve --tls --port 0 [args]``; its stderr goes to ``log``."""

    def __init__(self, trust: Trust, log: Path, *args: str) -> None:
        self.trust = trust
        self.log = log
        self.args = args
        self.mark = 0
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*mockgraph_command(), "serve", "--tls", "--port", "0", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=server_env(trust.home),
            )
        self.root = self._wait_for_banner()

    @property
    def url(self) -> str:
        """Graph's base URL: ``https://127.0.0.1:PORT/beta``."""
        return self.root + "/beta"

    def _wait_for_banner(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = BANNER.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        raise AssertionError("mockgraph serve --tls did not start:\n" + self.log.read_text())

    def get(self, path: str) -> Any:
        """The decoded answer to ``GET path`` (from the root), trusting the CA."""
        response = requests.get(self.root + path, verify=str(self.trust.ca), timeout=30)
        response.raise_for_status()
        return response.json()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the control API (``/_mockgraph/<path>``), trusting the CA; the decoded answer,
        ``None`` for a 204."""
        response = requests.request(
            method,
            f"{self.root}/_mockgraph/{path}",
            json=json,
            verify=str(self.trust.ca),
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def mockgraph(self, *args: str) -> str:
        """What ``mockgraph *args`` prints beside this server (its ``MOCKGRAPH_HOME``)."""
        return mockgraph(self.trust.home, *args)

    def reset(self) -> None:
        """The mock as started (stores, journal, clock); later log lines belong to the next
        test."""
        self.control("POST", "reset")
        self.mark = self.log.stat().st_size

    def requests(self, **query: str) -> list[dict[str, Any]]:
        """The journal, oldest first (``operation=``, ``method=``, ``limit=`` as the control
        API takes them)."""
        found = self.control("GET", "requests?" + "&".join(f"{k}={v}" for k, v in query.items()))
        entries: list[dict[str, Any]] = found["requests"]
        return entries

    def set_clock(self, now: float | None) -> None:
        """Freeze the mock's clock at ``now`` (seconds); ``None`` frees it."""
        self.control("POST", "clock", {"now": now})

    def seed(self, document: Mapping[str, Any]) -> None:
        """Replace every item with a state document."""
        self.control("POST", "state", document)

    def log_since_mark(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.mark)
            return f.read().decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM (Ctrl+C's graceful stop) and wait; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode


@pytest.fixture(scope="session")
def https_trust(tmp_path_factory: pytest.TempPathFactory) -> Trust:
    """One ``MOCKGRAPH_HOME`` (so one CA) for every HTTPS server of the session."""
    return Trust.of(tmp_path_factory.mktemp("mockgraph-home"))


ServeHttps = Callable[..., AbstractContextManager[HttpsMock]]


@pytest.fixture(scope="session")
def serve_https(https_trust: Trust, tmp_path_factory: pytest.TempPathFactory) -> ServeHttps:
    """``serve_https(*args)``: a context manager running ``mockgraph serve --tls --port 0
    *args`` for the length of its block; the server must stop gracefully (exit status 0)."""

    @contextmanager
    def serve(*args: str) -> Iterator[HttpsMock]:
        mock = HttpsMock(https_trust, tmp_path_factory.mktemp("serve") / "stderr.log", *args)
        try:
            yield mock
        finally:
            status = mock.stop()
        assert status == 0, f"mockgraph serve exited {status}:\n{mock.log.read_text()[-4000:]}"

    return serve


@pytest.fixture(scope="module")
def trust_in_python(https_trust: Trust) -> Iterator[Trust]:
    """The variables Python clients read to trust the CA, set for a module: ``requests``
    (azure-identity, MSAL) reads ``REQUESTS_CA_BUNDLE``, httpx (kiota, the SDK)
    ``SSL_CERT_FILE``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(https_trust.ca))
        patch.setenv("SSL_CERT_FILE", str(https_trust.ca))
        yield https_trust


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's report shows what the HTTPS mock it used logged during the test."""
    report = yield
    if report.failed and report.when == "call":
        funcargs = getattr(item, "funcargs", {})
        for value in funcargs.values():
            if isinstance(value, HttpsMock):
                report.sections.append(("mockgraph serve --tls: its log", value.log_since_mark()))
                break
    return report
