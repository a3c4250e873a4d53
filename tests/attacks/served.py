"""The attack suite's server and its invariant: ``mockgraph serve`` (the production server,
granian) in a subprocess with a state file, record mode and the JSON request log, its
``MOCKGRAPH_HOME`` in a temporary folder; reached over loopback sockets only, as any client
reaches it.

:class:`Served` sends requests (``http.client``, so that a test decides every byte of the
target, headers and body) and raw bytes, and reads what the server keeps: the state (``GET
/_mockgraph/state?secrets=true`` from loopback) and the state file, the journal, the recordings
and its stderr log. :func:`check_refused` is the invariant every attack ends with: no 5xx, a
refusal is Graph's error body, and a refusal changes nothing. The fixture stops the server with
SIGTERM and requires exit status 0 and a log without a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mockgraph

#: Any bearer token is accepted by default (opaque tokens are not checked).
TOKEN = "Bearer attack-suite"
KEYSETS = "/beta/trustFramework/keySets"
#: The start-up banner names the root once the port is bound.
_ROOT = re.compile(r"http://127\.0\.0\.1:(\d+)/beta")
#: Generous: a loaded machine imports Flask, jsonschema and cryptography slowly.
START_SECONDS = 60.0
#: mockgraph's drain deadline (``serve.production.DRAIN_SECONDS``) and some slack.
STOP_SECONDS = 20.0
#: Bound on waiting for any one answer: never a speed claim, only "answered at all".
ANSWER_SECONDS = 30.0
#: What the server writes on stderr when the app (or granian) meets an exception.
CRASH_MARKERS = ("Traceback (most recent call last)", "unexpected error in mockgraph")

#: The key sets every attack starts from: a secret in every secret member, an empty key set,
#: an id with a dot.
SEED: dict[str, Any] = {
    "keySets": [
        {
            "id": "B2C_1A_Seeded",
            "keys": [
                {"kid": "k1", "kty": "oct", "use": "sig", "k": "c2VjcmV0LXZhbHVl", "nbf": 1,
                 "exp": 2**40},
                {"kid": "k2", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "d": "AQAB",
                 "p": "AQAB", "q": "AQAB", "dp": "AQAB", "dq": "AQAB", "qi": "AQAB",
                 "status": "enabled"},
            ],
        },
        {"id": "B2C_1A_Empty", "keys": []},
        {"id": "B2C_1A_it.s", "keys": []},
    ]
}  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """One answer as a client read it: status, headers (names in lower case, repeated ones
    joined with ``", "``) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    method: str = "GET"
    target: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        """Status line, headers and body as one text, for searching."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.status}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


def parse_answer(data: bytes, method: str = "GET", target: str = "") -> Answer | None:
    """The first HTTP/1.1 answer in ``data`` (as a raw socket read it), ``None`` for none
    (the server closed the connection without a word). A ``100 Continue`` is skipped."""
    while data.startswith(b"HTTP/1.1 100") or data.startswith(b"HTTP/1.0 100"):
        data = data.partition(b"\r\n\r\n")[2]
    if not data.startswith(b"HTTP/"):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        body = body[: int(length)]
    return Answer(int(lines[0].split()[1]), headers, body, method, target)


def raw_exchange(port: int, data: bytes, *, timeout: float = ANSWER_SECONDS) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (send
    ``Connection: close``) or ``timeout``; what was read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server may refuse before reading everything
            pass
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def request_bytes(
    method: str,
    target: str,
    body: bytes = b"",
    headers: Mapping[str, str | bytes | None] | None = None,
    *,
    host: bytes = b"127.0.0.1",
) -> bytes:
    """A whole HTTP/1.1 request, byte for byte: ``Host``, the token, a JSON content type, the
    body's length and ``Connection: close``, each replaced by ``headers`` (a value as given,
    bytes included; ``None`` leaves the header out)."""
    chosen: dict[str, str | bytes | None] = {
        "Host": host,
        "Authorization": TOKEN,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    chosen.update(headers or {})
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1")]
    for name, value in chosen.items():
        if value is None:
            continue
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode("latin-1") + b": " + raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Served:
    """``mockgraph serve --port 0 --state-file F --record D --log-format json [extra]`` in a
    subprocess, with ``MOCKGRAPH_HOME`` under ``folder``; stderr goes to ``folder/serve.log``.
    Every answer it gives through :meth:`request` and :meth:`raw` is kept in :attr:`answers`."""

    def __init__(self, folder: Path, *extra: str) -> None:
        self.folder = folder
        self.state_file = folder / "state.json"
        self.record_dir = folder / "recordings"
        self.log_path = folder / "serve.log"
        self.home = folder / "home"
        self.answers: list[Answer] = []
        self._connection: http.client.HTTPConnection | None = None
        package_root = Path(mockgraph.__file__).resolve().parent.parent
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKGRAPH_")}
        env.update(MOCKGRAPH_HOME=str(self.home), PYTHONPATH=str(package_root))
        # The state file starts as the seed, so a refusal of the very first attack is
        # compared with known items.
        self.state_file.write_text(json.dumps(SEED), encoding="utf-8")
        command = [sys.executable, "-m", "mockgraph", "serve", "--port", "0"]
        command += ["--state-file", str(self.state_file), "--record", str(self.record_dir)]
        command += ["--log-format", "json", *extra]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=folder
            )
        self.port = self._wait_until_answering()
        self.root = f"http://127.0.0.1:{self.port}"

    # -- life ------------------------------------------------------------------------------
    def _wait_until_answering(self) -> int:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            found = _ROOT.search(self.log())
            if found and _answers(int(found.group(1))):
                return int(found.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.process.kill()
        self.process.wait(STOP_SECONDS)
        raise AssertionError("mockgraph serve did not start:\n" + self.log())

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, then the exit status (killed, and a failure, after ``timeout``)."""
        self.close_connection()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
        raise AssertionError(f"mockgraph serve did not exit {timeout} s after SIGTERM")

    def close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- requests --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        *,
        token: str | None = TOKEN,
        json_body: Any = None,
    ) -> Answer:
        """One exchange on the kept-alive connection. ``target`` is sent as given (escape it
        yourself); ``token`` ``None`` sends no ``Authorization``; ``json_body`` is encoded with
        ``json.dumps`` (lone surrogates become ``\\udXXX`` escapes)."""
        chosen: dict[str, str | bytes] = {}
        if token is not None:
            chosen["Authorization"] = token
        if json_body is not None:
            body = json.dumps(json_body).encode()
        if body is not None:
            chosen["Content-Type"] = "application/json"
        chosen.update(headers or {})
        for attempt in (1, 2):
            connection = self._connection or http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=ANSWER_SECONDS
            )
            self._connection = connection
            reused = connection.sock is not None
            try:
                connection.request(method, target, body=body, headers=chosen)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.close_connection()
                # A kept-alive connection the server closed while idle: the request never
                # reached it, so sending it again is safe. A new connection failing is final.
                if reused and attempt == 1:
                    continue
                raise
            headers_seen: dict[str, str] = {}
            for name, value in response.getheaders():
                key = name.lower()
                seen = headers_seen.get(key)
                headers_seen[key] = f"{seen}, {value}" if seen is not None else value
            if response.will_close:
                self.close_connection()
            answer = Answer(response.status, headers_seen, data, method, target)
            self.answers.append(answer)
            return answer
        raise AssertionError("unreachable")

    def raw(self, data: bytes, *, timeout: float = ANSWER_SECONDS) -> Answer | None:
        """``data`` sent on a new connection as it is; the answer, or ``None`` when the server
        closed the connection without one."""
        first = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        answer = parse_answer(
            raw_exchange(self.port, data, timeout=timeout),
            first[0],
            first[1] if len(first) > 1 else "",
        )
        if answer is not None:
            self.answers.append(answer)
        return answer

    # -- what the server keeps -------------------------------------------------------------
    def state(self) -> Any:
        answer = self.request("GET", "/_mockgraph/state?secrets=true", token=None)
        assert answer.status == 200, answer.text()
        return answer.json()

    def snapshot(self) -> tuple[Any, bytes]:
        """The items (secrets included) and the state file's bytes."""
        return self.state(), self.state_file.read_bytes()

    def seed(self, document: Any = None) -> None:
        """Replace every item with ``document`` (default :data:`SEED`)."""
        answer = self.request(
            "POST", "/_mockgraph/state", json_body=SEED if document is None else document,
            token=None,
        )  # fmt: skip
        assert answer.status == 204, answer.text()

    def journal(self) -> list[dict[str, Any]]:
        answer = self.request("GET", "/_mockgraph/requests", token=None)
        assert answer.status == 200, answer.text()
        entries: list[dict[str, Any]] = answer.json()["requests"]
        return entries

    def clear_journal(self) -> None:
        assert self.request("DELETE", "/_mockgraph/requests", token=None).status == 204

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def recordings(self) -> dict[str, str]:
        if not self.record_dir.is_dir():
            return {}
        return {
            p.name: p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(self.record_dir.glob("*.json"))
        }

    def answered_quickly(self, within: float = 1.0) -> float:
        """A fresh client's ordinary request on a new connection: asserts a 200 within
        ``within`` seconds; the seconds it took."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=within + 5)
        try:
            connection.request("GET", KEYSETS + "?$top=1", headers={"Authorization": TOKEN})
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        took = time.monotonic() - started
        assert response.status == 200, response.status
        assert took < within, f"a fresh client waited {took:.2f} s"
        return took


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/_mockgraph/health")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def stop_and_check(served: Served) -> None:
    """Stop ``served`` as an operator does (SIGTERM): exit status 0, and no traceback in its
    log (an exception in the app or the server is a bug even when a client saw nothing)."""
    status = served.stop()
    log = served.log()
    crashes = [marker for marker in CRASH_MARKERS if marker in log]
    assert status == 0, f"mockgraph serve exited with {status}:\n{log[-3000:]}"
    assert not crashes, f"the server's log holds {crashes}:\n{log[-3000:]}"


# -- the invariant ---------------------------------------------------------------------------
def assert_graph_error(answer: Answer) -> None:
    """Graph's error body (``concepts/errors.md``): JSON, ``error.code``, ``error.message``
    and ``innerError`` with ``date``, ``request-id`` and ``client-request-id``, the ids those
    of the answer's headers. A ``HEAD`` answer has no body to check."""
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.text()
    if answer.method == "HEAD":
        return
    body = answer.json()
    error = body["error"]
    if isinstance(error, str) and "/oauth2/" in answer.target:
        # The sign-in authority's token endpoint answers OAuth's error body (RFC 6749, 5.2)
        # with the identity platform's members, as azure-identity and MSAL expect.
        assert {"error_description", "error_codes", "trace_id", "correlation_id"} <= set(body)
        assert body["trace_id"] == answer.headers.get("request-id"), answer.text()
        return
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    inner = error["innerError"]
    assert {"date", "request-id", "client-request-id"} <= set(inner), body
    assert inner["request-id"] == answer.headers.get("request-id"), answer.text()


def is_protocol_refusal(answer: Answer | None) -> bool:
    """Whether granian's HTTP/1.1 parser refused the bytes before any app saw them: no answer
    at all, or a bare ``400``/``431`` with an empty body and ``Connection: close``. The bridge
    and the app cannot word these (they never see the request)."""
    if answer is None:
        return True
    return (
        answer.status in (400, 431)
        and answer.body == b""
        and "content-type" not in answer.headers
        and answer.headers.get("connection", "").lower() == "close"
    )


def check_refused(
    served: Served,
    send: Callable[[], Answer | None],
    *,
    protocol_refusal_ok: bool = False,
    must_refuse: bool = False,
) -> Answer | None:
    """The invariant of every attack: ``send()``'s answer is never a 5xx; anything but a 2xx
    is Graph's error body and leaves the items and the state file as they were; the journal
    can show the exchange (it is read, then cleared). A 2xx (the input was acceptable after
    all) may change the items: they are seeded again. With ``must_refuse`` a 2xx fails; with
    ``protocol_refusal_ok`` the HTTP parser's bare refusal (:func:`is_protocol_refusal`) is
    accepted for bytes no HTTP message may hold."""
    before = served.snapshot()
    answer = send()
    after = served.snapshot()
    # The journal decodes and redacts an exchange when it is first read: read it now, then
    # clear it (each read of the journal costs as much as the journal holds).
    journal = served.request("GET", "/_mockgraph/requests", token=None)
    assert journal.status == 200, journal.text()[:2000]
    served.clear_journal()
    if after != before:
        served.seed()  # the next attack starts from the seed, whatever this one did
    if protocol_refusal_ok and is_protocol_refusal(answer):
        assert after == before, "a request the HTTP parser refused changed the items"
        return answer
    assert answer is not None, "the server closed the connection without an answer"
    assert answer.status < 500, answer.text()[:2000]
    if 200 <= answer.status < 300:
        assert not must_refuse, answer.text()[:2000]
        return answer
    assert_graph_error(answer)
    assert after[0] == before[0], ("a refused request changed the items", answer.text()[:2000])
    assert after[1] == before[1], ("a refused request changed the state file", answer.text())
    return answer
