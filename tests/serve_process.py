"""``mockgraph serve --port 0`` in a subprocess, for tests that need the real production server
or a process they can kill: the port read back from the start-up line, ready once it answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

import mockgraph

#: The start-up line names the URL once the port is bound.
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/beta")
#: Generous: a loaded CI machine imports Flask, jsonschema and cryptography slowly.
START_TIMEOUT = 60.0


class ServeProcess:
    """A running ``mockgraph serve --port 0 [args]``; its stderr goes to ``log``."""

    def __init__(self, log: Path, *args: str) -> None:
        package_root = Path(mockgraph.__file__).resolve().parent.parent
        env = dict(os.environ, PYTHONPATH=str(package_root))
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mockgraph", "serve", "--port", "0", *args],
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=env,
            )
        self.port = self._wait_until_answering()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_answering(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = URL.search(self.log.read_text(errors="replace"))
            # The URL is announced once the port is bound, a moment before it is served.
            if found and _answers(int(found.group(1))):
                return int(found.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.process.kill()
        self.process.wait(30)
        raise AssertionError("mockgraph serve did not start:\n" + self.log.read_text())

    def kill(self) -> None:
        """SIGKILL on POSIX, TerminateProcess on Windows: no chance to clean up."""
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


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/_mockgraph/health", timeout=5).ok
    except requests.RequestException:
        return False
