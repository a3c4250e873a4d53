"""Floods against the served mock: hundreds of idle keep-alive connections, stalled bodies,
slowloris headers, silent sockets and clients that never read never keep a fresh client
waiting a second; a stalled body gets Graph's 408 after the body deadline; SIGTERM with such
clients connected exits 0 within the drain deadline; delays injected into ``$batch`` items add
up and hold no thread; huge headers cannot grow the journal past its byte budget; 400
concurrent writes leave the state file equal to the items; a PFX demanding millions of
key-derivation rounds keeps no other client waiting.
"""

from __future__ import annotations

import base64
import http.client
import json
import selectors
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from attacks.served import (
    KEYSETS,
    TOKEN,
    Served,
    assert_graph_error,
    parse_answer,
    request_bytes,
    stop_and_check,
)
from crypto_factory import make_certificate, make_pfx_b64, make_rsa_key
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

pytestmark = pytest.mark.slow

#: ``serve.worker.BODY_TIMEOUT``, ``serve.production.HEADER_SECONDS`` and ``DRAIN_SECONDS``.
BODY_SECONDS = HEADER_SECONDS = DRAIN_SECONDS = 10.0
#: How late past a deadline the server may act on a loaded machine.
SLACK = 4.0
#: The longest a fresh client may wait for an ordinary answer during a flood.
FRESH_WITHIN = 1.0
STALLED_BODY = b'{"id": "Stalled", "keys": []}'


@dataclass
class Flooder:
    """Sockets held open against one server, each read as it becomes readable: when the server
    first wrote to it or closed it, and what it wrote."""

    port: int
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    opened: dict[socket.socket, tuple[str, float]] = field(default_factory=dict)
    answered: dict[socket.socket, float] = field(default_factory=dict)
    closed: dict[socket.socket, float] = field(default_factory=dict)
    data: dict[socket.socket, bytes] = field(default_factory=dict)

    def open(self, kind: str, first: bytes = b"") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if first:
            sock.sendall(first)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.opened[sock] = (kind, time.monotonic())
        self.data[sock] = b""
        return sock

    def of(self, kind: str) -> list[socket.socket]:
        return [s for s, (k, _) in self.opened.items() if k == kind]

    def poll(self, seconds: float) -> None:
        for key, _ in self.selector.select(timeout=seconds):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            now = time.monotonic()
            if chunk:
                self.answered.setdefault(sock, now)
                self.data[sock] += chunk
            else:
                self.closed[sock] = now
                self.selector.unregister(sock)

    def close(self) -> None:
        for sock in self.opened:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self.selector.close()


@contextmanager
def flooding(port: int) -> Iterator[Flooder]:
    flooder = Flooder(port)
    try:
        yield flooder
    finally:
        flooder.close()


def stalled_body_start() -> bytes:
    """A create whose headers and all but the last 5 bytes of its body are sent."""
    return request_bytes("POST", KEYSETS, STALLED_BODY, {"Connection": "keep-alive"})[:-5]


def keep_alive_request() -> bytes:
    return b"GET /_mockgraph/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_a_flood_of_idle_stalled_slowloris_and_unread_clients_never_keeps_a_fresh_one_a_second(
    served: Served,
) -> None:
    served.seed()
    waits: list[float] = []
    with flooding(served.port) as flood:
        for _ in range(300):  # idle keep-alive: one answer each, then silence
            flood.open("idle", keep_alive_request())
        for _ in range(200):
            flood.open("stalled", stalled_body_start())
        for _ in range(50):  # slowloris: headers that never end
            flood.open("slowloris", b"GET " + KEYSETS.encode() + b" HTTP/1.1\r\nHost: 1")
        for _ in range(20):
            flood.open("silent")
        # Slow readers: requests pipelined by the hundred, the answers never read.
        readers = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(10)]
        for sock in readers:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            try:
                sock.send(b"GET /_mockgraph/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 200)
            except BlockingIOError:
                pass
        started = time.monotonic()
        next_fresh = next_trickle = started
        while time.monotonic() - started < BODY_SECONDS + SLACK:
            flood.poll(0.05)
            now = time.monotonic()
            if now >= next_fresh:
                waits.append(served.answered_quickly(FRESH_WITHIN))
                next_fresh = time.monotonic() + 0.25
            if now >= next_trickle:  # a header line every half second keeps slowloris alive
                for sock in flood.of("slowloris"):
                    if sock not in flood.closed:
                        try:
                            sock.send(b"27.0.0.1\r\nX-a: b\r\nHost: 1")
                        except OSError:
                            pass
                next_trickle = now + 0.5
            if len(flood.closed) == len(flood.opened):
                break
        # Each stalled body: Graph's 408 after the body deadline, then the connection closed.
        for sock in flood.of("stalled"):
            answer = parse_answer(flood.data[sock], "POST", KEYSETS)
            assert answer is not None and answer.status == 408, flood.data[sock][:300]
            assert_graph_error(answer)
            took = flood.answered[sock] - flood.opened[sock][1]
            assert BODY_SECONDS - 1 <= took <= BODY_SECONDS + SLACK, took
        for kind in ("idle", "slowloris", "silent", "stalled"):
            open_still = [s for s in flood.of(kind) if s not in flood.closed]
            assert not open_still, f"{len(open_still)} {kind} connections still open"
    for sock in readers:
        sock.close()
    assert len(waits) > 20 and max(waits) < FRESH_WITHIN, waits
    assert "B2C_1A_Stalled" not in {item["id"] for item in served.state()["keySets"]}


def test_a_stalled_body_gets_a_graph_408_after_the_body_deadline_and_changes_nothing(
    served: Served,
) -> None:
    served.seed()
    before = served.snapshot()
    with flooding(served.port) as flood:
        sock = flood.open("stalled", stalled_body_start())
        started = time.monotonic()
        while sock not in flood.closed and time.monotonic() - started < BODY_SECONDS + SLACK:
            flood.poll(0.1)
        answer = parse_answer(flood.data[sock], "POST", KEYSETS)
    assert answer is not None and answer.status == 408, flood.data[sock][:300]
    assert_graph_error(answer)
    assert answer.json()["error"]["code"] == "requestTimeout"
    assert answer.headers.get("connection") == "close"
    assert BODY_SECONDS - 1 <= flood.answered[sock] - started <= BODY_SECONDS + SLACK
    assert served.snapshot() == before


def test_sigterm_with_stalled_idle_slowloris_and_delayed_clients_exits_0_in_the_drain_time(
    tmp_path: Path,
) -> None:
    server = Served(tmp_path)
    with flooding(server.port) as flood:
        for _ in range(20):
            flood.open("idle", keep_alive_request())
            flood.open("stalled", stalled_body_start())
            flood.open("slowloris", b"GET / HTTP/1.1\r\nHost: 1")
            flood.open("silent")
        # An answer held back by an injected delay longer than the drain deadline.
        flood.open(
            "delayed",
            request_bytes("GET", KEYSETS, b"", {"X-MockGraph-Fault": "delay 30s"}),
        )
        flood.poll(0.5)
        stopping = time.monotonic()
        status = server.stop(timeout=DRAIN_SECONDS + 2 * SLACK)
        took = time.monotonic() - stopping
    assert status == 0, server.log()[-2000:]
    assert took <= DRAIN_SECONDS + SLACK, took
    stop_and_check(server)  # the log holds no traceback
    json.loads(server.state_file.read_text(encoding="utf-8"))  # the state file whole


def test_delays_injected_into_batch_items_add_up_and_hold_no_thread(served: Served) -> None:
    def batch(delay: str, items: int) -> dict[str, object]:
        return {
            "requests": [
                {
                    "id": str(i),
                    "method": "GET",
                    "url": "/trustFramework/keySets?$top=1",
                    "headers": {"X-MockGraph-Fault": f"delay {delay}"},
                }
                for i in range(items)
            ]
        }

    started = time.monotonic()
    answer = served.request("POST", "/beta/$batch", json_body=batch("400ms", 3))
    took = time.monotonic() - started
    assert answer.status == 200 and [r["status"] for r in answer.json()["responses"]] == [200] * 3
    assert took >= 1.2, f"three items delayed 400 ms each answered after {took:.2f} s"

    # More delayed batches at once than the server has threads (8): held on the event loop,
    # they all end together, and a fresh client meanwhile is answered at once.
    def one(_: int) -> tuple[int, float]:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        begun = time.monotonic()
        body = json.dumps(batch("1500ms", 2)).encode()
        headers = {"Authorization": TOKEN, "Content-Type": "application/json"}
        connection.request("POST", "/beta/$batch", body, headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, time.monotonic() - begun

    with ThreadPoolExecutor(max_workers=24) as pool:
        begun = time.monotonic()
        futures = [pool.submit(one, i) for i in range(24)]
        time.sleep(0.5)
        waits = [served.answered_quickly(FRESH_WITHIN) for _ in range(4)]
        results = [f.result() for f in futures]
        took = time.monotonic() - begun
    assert all(status == 200 for status, _ in results), results
    assert all(seconds >= 3.0 for _, seconds in results), results
    assert took < 3.0 * 2, f"24 batches delayed 3 s each took {took:.1f} s: threads were held"
    assert max(waits) < FRESH_WITHIN


def test_huge_headers_cannot_grow_the_journal_past_its_byte_budget(served: Served) -> None:
    budget = 8 * 1024 * 1024  # Config.journal_bytes
    pad = b"a" * (300 * 1024)
    served.clear_journal()
    request = (
        b"GET " + KEYSETS.encode() + b"?$top=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + TOKEN.encode() + b"\r\nX-Pad: " + pad + b"\r\n\r\n"
    )

    def send(count: int) -> int:
        ok = 0
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            reader = sock.makefile("rb")
            for _ in range(count):
                sock.sendall(request)
                status = reader.readline()
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                ok += status.startswith(b"HTTP/1.1 200")
        return ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        answered = sum(pool.map(send, [250] * 4))
    assert answered == 1000
    entries = served.journal()
    kept = sum(len(json.dumps(entry)) for entry in entries)
    assert len(entries) <= budget // len(pad) + 1, len(entries)
    assert kept <= budget + 2 * len(pad), kept
    served.answered_quickly(FRESH_WITHIN)


def test_concurrent_writes_leave_the_state_file_equal_to_the_items(served: Served) -> None:
    # 400 writes from 32 clients at once on five key sets (creates, deletes, replacements,
    # added keys): none is a 5xx, and what the file holds is what the server answers from.
    served.seed({"keySets": [{"id": f"B2C_1A_R{i}", "keys": []} for i in range(5)]})
    kinds = ["create", "delete", "secret", "patch", "put", "generate"]
    writes = [(kinds[n % 6], n * 7 % 5, n) for n in range(400)]

    def write(job: tuple[str, int, int]) -> int:
        kind, index, n = job
        item = f"{KEYSETS}/B2C_1A_R{index}"
        method, target, body = {
            "create": ("POST", KEYSETS, {"id": f"R{index}"}),
            "delete": ("DELETE", item, None),
            "secret": ("POST", f"{item}/uploadSecret", {"use": "sig", "k": f"k{n}"}),
            "patch": ("PATCH", item, {"keys": [{"kid": f"p{n}", "kty": "oct", "k": f"p{n}"}]}),
            "put": ("PUT", item, {}),
            "generate": ("POST", f"{item}/generateKey", {"use": "enc", "kty": "oct"}),
        }[kind]
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        headers = {"Authorization": TOKEN, "Content-Type": "application/json"}
        connection.request(method, target, json.dumps(body) if body else None, headers)
        status = connection.getresponse().status
        connection.close()
        return status

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(write, writes))
    assert max(statuses) < 500, sorted(set(statuses))
    held = json.loads(served.state_file.read_text(encoding="utf-8"))

    def by_id(document: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
        return sorted(document["keySets"], key=lambda item: str(item["id"]))

    assert by_id(held) == by_id(served.state())


# -- key-derivation bombs --------------------------------------------------------------------
def _tlv(data: bytes, at: int) -> tuple[int, int]:
    """The start of the value of the DER element at ``at`` and its end."""
    first = data[at + 1]
    if first < 0x80:
        return at + 2, at + 2 + first
    size = first & 0x7F
    length = int.from_bytes(data[at + 2 : at + 2 + size], "big")
    return at + 2 + size, at + 2 + size + length


def _der(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def _elements(data: bytes) -> list[bytes]:
    found, at = [], 0
    while at < len(data):
        _, end = _tlv(data, at)
        found.append(data[at:end])
        at = end
    return found


def with_mac_iterations(pfx: bytes, iterations: int) -> bytes:
    """``pfx`` (DER) with its MacData's iteration count set to ``iterations`` (RFC 7292: PFX
    ::= SEQUENCE {version, authSafe, macData SEQUENCE {mac, macSalt, iterations}}): the count
    is not covered by the MAC, so anyone can raise it."""
    start, end = _tlv(pfx, 0)
    version, auth_safe, mac_data = _elements(pfx[start:end])
    start, end = _tlv(mac_data, 0)
    mac, salt, *_ = _elements(mac_data[start:end])
    count = iterations.to_bytes((iterations.bit_length() + 8) // 8, "big")
    return _der(0x30, version + auth_safe + _der(0x30, mac + salt + _der(0x02, count)))


@pytest.fixture(scope="module")
def costly_pfx() -> dict[str, str]:
    """Base64 PFX files whose reading costs seconds: 50 million MAC rounds (the count patched
    in, free to make), and 10 million PBKDF2 rounds for its key (made the slow way)."""
    key = make_rsa_key()
    _, certificate = make_certificate(key=key)
    slow_key = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(10_000_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    made = pkcs12.serialize_key_and_certificates(b"x", key, certificate, None, slow_key)
    plain = base64.b64decode(make_pfx_b64("pw", key=key))
    return {
        "mac-rounds": base64.b64encode(with_mac_iterations(plain, 50_000_000)).decode(),
        "pbkdf2-rounds": base64.b64encode(made).decode(),
    }


@pytest.mark.parametrize("bomb", ["mac-rounds", "pbkdf2-rounds"])
def test_a_pfx_demanding_millions_of_key_derivation_rounds_keeps_no_client_waiting(
    served: Served, costly_pfx: dict[str, str], bomb: str
) -> None:
    # The round counts are the file's to choose (up to 2**31 - 1: minutes of work each); a
    # $batch carries 20 such uploads.
    served.seed({"keySets": [{"id": "B2C_1A_Bombed", "keys": []}]})
    body = json.dumps({"key": costly_pfx[bomb], "password": "pw"}).encode()
    with ThreadPoolExecutor(max_workers=1) as pool:

        def upload() -> int:
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=300)
            headers = {"Authorization": TOKEN, "Content-Type": "application/json"}
            connection.request("POST", f"{KEYSETS}/B2C_1A_Bombed/uploadPkcs12", body, headers)
            status = connection.getresponse().status
            connection.close()
            return status

        uploading = pool.submit(upload)
        time.sleep(0.3)
        waits = []
        while not uploading.done() and len(waits) < 20:
            waits.append(served.answered_quickly(FRESH_WITHIN))
            time.sleep(0.1)
        assert uploading.result() < 500
    assert max(waits, default=0.0) < FRESH_WITHIN, waits
