"""Bad input at volume (issue 6, part 4): arbitrary bodies, headers and query strings on every
route never get a 5xx, always get Graph's error body on a 4xx, and never change the store when
refused; hostile bytes on a live socket are answered or cut off without stalling other clients.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_process import ServeProcess
from werkzeug.routing import Rule

from mockgraph import Config, create_app
from mockgraph.features.statefile import state_document
from mockgraph.features.tokens import make_token
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.serve.live import MockGraphServer
from mockgraph.state import mockgraph

TOKEN = "Bearer test-token"
#: Generous bound for "answered at all"; never a speed assertion.
TIMEOUT = 20.0
SEEDED = (
    KeySet(
        "B2C_1A_Seeded",
        (
            Key(kid="k1", kty="oct", use="sig", k="c2VjcmV0LXZhbHVl", nbf=1, exp=2**40),
            Key(kid="k2", kty="RSA", use="enc", n="AQAB", e="AQAB", d="AQAB", status="enabled"),
        ),
    ),
    KeySet("B2C_1A_Empty"),
    KeySet("B2C_1A_it's"),
)

# -- strategies ------------------------------------------------------------------------------
MEMBERS = (
    "id", "keys", "use", "kty", "nbf", "exp", "k", "key", "password", "status", "kid", "x5c",
    "x5t", "e", "n", "d", "p", "q", "dp", "dq", "qi", "@odata.type", "requests", "now",
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["sig", "enc", "RSA", "oct", "B2C_1A_Seeded", "enabled", "", "\x00"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(MEMBERS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=16,
)
#: Bodies that get past "is it a JSON object" so the contracts and marshmallow see them too.
NEAR_OBJECTS = st.dictionaries(st.sampled_from(MEMBERS), JSON_VALUES, min_size=1, max_size=5)
RAW_BODIES = st.binary(max_size=40) | st.sampled_from(
    [b"", b"{", b'{"id": NaN}', b"[" * 5000, b'{"a": 1e999}', b"\xff\xfe{}", b'{"id":"\x00"}']
)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


BODIES = (
    NEAR_OBJECTS.map(_encode) | JSON_VALUES.map(_encode) | RAW_BODIES | st.just(None)
)  # fmt: skip
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=latin-1",
        "",
    ]
) | st.text(max_size=20).filter(lambda t: "\n" not in t and "\r" not in t)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JWTS = st.tuples(JSON_VALUES, JSON_VALUES).map(
    lambda parts: ".".join(_b64url(json.dumps(p).encode()) for p in parts) + ".sig"
)
LATIN1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30)
BAD_AUTHORIZATION = st.sampled_from(["", "Bearer", "Basic abc", "bearer  x"]) | (
    JWTS.map(lambda t: "Bearer " + t)
) | LATIN1  # fmt: skip
#: An opaque token, or a JWT with the permission every operation accepts.
GOOD_AUTHORIZATION = st.sampled_from(
    [TOKEN, "Bearer " + make_token(scp="TrustFrameworkKeySet.ReadWrite.All")]
)
#: Three times in four: a good token, a JSON body (so most inputs get past the front door).
MOSTLY = st.sampled_from([True, True, True, False])
HEADER_NAMES = st.sampled_from(
    [
        "client-request-id",
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
        "Accept",
        "Prefer",
        "If-Match",
        "ConsistencyLevel",
        "Content-Encoding",
        "Transfer-Encoding-X",
    ]
) | st.from_regex(r"\A[A-Za-z][A-Za-z0-9\-]{0,15}\Z").filter(
    # Fault injection is designed to answer 5xx; test_faults.py covers its header.
    lambda n: not n.lower().startswith(("x-mockgraph", "content-length", "transfer-encoding"))
)
EXTRA_HEADERS = st.lists(st.tuples(HEADER_NAMES, LATIN1), max_size=4)
OPTION_NAMES = st.sampled_from(
    ["$top", "$skip", "$filter", "$orderby", "$select", "$count", "$skiptoken", "$expand",
     "$search", "$format", "top", "operation", "limit"]
) | st.text(max_size=8)  # fmt: skip
OPTION_VALUES = st.sampled_from(
    ["1", "0", "-1", "999", "1000", "99999999999999999999999", "id", "id desc", "keys",
     "id eq 'B2C_1A_Seeded'", "startswith(id,'B2C')", "true", "x", "''", "id eq ''''"]
) | st.text(max_size=16)  # fmt: skip
QUERIES = st.lists(st.tuples(OPTION_NAMES, OPTION_VALUES), max_size=4).map(
    lambda pairs: "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in pairs)
) | st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=20).map(
    lambda raw: quote(raw, safe="=&$%")  # invalid %-escapes stay in
)  # fmt: skip
IDS = st.sampled_from([k.id for k in SEEDED] + ["b2c_1a_seeded", "missing"]) | st.text(max_size=12)
METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"])

_PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _url_for(rule: Rule, values: dict[str, str]) -> str:
    """``rule``'s path with each placeholder filled and escaped as a client would."""

    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        value = values.get(name, "x")
        if converter == "odatakey":
            return "'" + quote(value.replace("'", "''"), safe="") + "'"
        return quote(value, safe="") or "%20"

    return _PLACEHOLDER.sub(fill, rule.rule)


def _rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


# -- the property ----------------------------------------------------------------------------
def assert_graph_error(status: int, mimetype: str, body: bytes, method: str) -> None:
    assert mimetype == "application/json", (status, mimetype, body[:200])
    if method == "HEAD":
        return
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}


@pytest.fixture(scope="module")
def fuzz_app() -> Flask:
    return create_app(Config(), contracts=Contracts.load())


@st.composite
def requests_for(draw: st.DrawFn, rules: list[Rule]) -> dict[str, Any]:
    rule = draw(st.sampled_from(rules))
    allowed = sorted(rule.methods or ())
    method = draw(st.sampled_from(allowed) | METHODS) if allowed else draw(METHODS)
    values = {name: draw(IDS) for name in rule.arguments}
    headers: list[tuple[str, str]] = []
    authorization = draw(GOOD_AUTHORIZATION if draw(MOSTLY) else BAD_AUTHORIZATION)
    if authorization:
        headers.append(("Authorization", authorization))
    headers.extend(draw(EXTRA_HEADERS))
    body = draw(BODIES)
    if body is not None:
        content_type = "application/json" if draw(MOSTLY) else draw(CONTENT_TYPES)
        headers.append(("Content-Type", content_type))
    return {
        "method": method,
        "path": _url_for(rule, values),
        "query_string": draw(QUERIES),
        "headers": headers,
        "data": body,
    }


def test_every_route_answers_any_input_without_5xx_and_refusals_change_nothing(
    fuzz_app: Flask,
) -> None:
    state = mockgraph(fuzz_app)
    client = fuzz_app.test_client()
    seen: dict[int, int] = {}

    @settings(
        max_examples=500,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests_for(_rules(fuzz_app)))
    def exchange(req: dict[str, Any]) -> None:
        state.stores["keySets"].load(SEEDED)
        before = state.state_document()
        response = client.open(**req)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (req, response.get_data()[:300])
        if response.status_code >= 400:
            assert_graph_error(
                response.status_code, response.mimetype, response.get_data(), req["method"]
            )
            assert state.state_document() == before, req

    exchange()
    # The property only means something if the inputs reached past the front door.
    assert any(200 <= status < 300 for status in seen), seen
    assert {400, 401, 404, 405} <= set(seen), seen


# -- a live server, raw sockets --------------------------------------------------------------
class Live:
    """A server reached only over sockets, as a client sees it; its key sets are set and read
    through the control API, so the same tests run in-process and against ``mockgraph serve``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = f"http://127.0.0.1:{port}"

    def seed(self) -> None:
        answer = requests.post(
            self.root + "/_mockgraph/state", json=state_document(SEEDED[:2]), timeout=TIMEOUT
        )
        assert answer.status_code == 204, answer.text

    def snapshot(self) -> Any:
        answer = requests.get(self.root + "/_mockgraph/state?secrets=true", timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def has(self, keyset_id: str) -> bool:
        return keyset_id in {k["id"] for k in self.snapshot()["keySets"]}


@pytest.fixture(scope="module", params=["werkzeug-thread", "mockgraph-serve"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """MockGraphServer (a thread of this process), and the production server that
    ``mockgraph serve`` runs (a subprocess): a slow client must stall neither."""
    if request.param == "werkzeug-thread":
        with MockGraphServer(Config()) as server:
            yield Live(server.port)
    else:
        with ServeProcess(tmp_path_factory.mktemp("serve") / "serve.log") as process:
            yield Live(process.port)


@pytest.fixture
def live_state(live: Live) -> Live:
    live.seed()
    return live


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return sock


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    all_headers = {"Authorization": TOKEN, "Content-Type": "application/json"}
    all_headers["Content-Length"] = str(len(body))
    all_headers.update(headers or {})
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (until its Content-Length, or until the server closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body


def send_raw(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(port) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def assert_graph_error_answer(answer: tuple[int, dict[str, str], bytes], status: int) -> None:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/json")
    assert set(json.loads(body)["error"]) == {"code", "message", "innerError"}


def list_answered(port: int) -> int:
    """Another client's ordinary request, as an HTTP library sends it (keep-alive); its status.
    It must be answered at all: the timeout only bounds the wait for a server that stalls."""
    url = f"http://127.0.0.1:{port}/beta/trustFramework/keySets"
    return requests.get(url, headers={"Authorization": TOKEN}, timeout=TIMEOUT).status_code


CREATE = "/beta/trustFramework/keySets"


def nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"id": "x", "keys": [{"nbf": 1' + b"0" * 5000 + b"}]}", id="int-5000-digits"
        ),
        pytest.param(b'{"id": "x", "keys": [{"nbf": 1e400}]}', id="float-overflow"),
        pytest.param(b'{"id": 1' + b"9" * 900_000 + b"}", id="int-900k-digits"),
        pytest.param(nested(10_000), id="array-depth-10000"),
        pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="object-depth-10000"),
        pytest.param(b'{"id": "x", "keys": ' + nested(990) + b"}", id="keys-depth-990"),
        pytest.param(
            b'{"id": "x", "keys": [' + b'{"x5c":' * 950 + b"1" + b"}" * 950 + b"]}",
            id="key-depth-950",
        ),
        pytest.param(b'{"id": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b'{"id": "\xed\xa0\x80"}', id="utf8-surrogate"),
        pytest.param(b'{"id": "\\ud800"}', id="lone-surrogate-escape"),
        pytest.param(b'{"id": "a\\u0000b"}', id="nul-in-string"),
        pytest.param(b'{"id": "a\x00b"}', id="raw-nul-in-string"),
        pytest.param(b'{"id\\u0000": "a"}', id="nul-in-member-name"),
        pytest.param(b"\x00" * 64, id="only-nul-bytes"),
    ],
)
def test_hostile_bodies_get_a_graph_400_and_change_nothing(live_state: Live, body: bytes) -> None:
    before = live_state.snapshot()
    answer = send_raw(live_state.port, request_bytes("POST", CREATE, body))
    assert_graph_error_answer(answer, 400)
    assert live_state.snapshot() == before


@pytest.mark.parametrize("depth", [100, 900, 990, 10_000])
@pytest.mark.parametrize(
    "path",
    [
        "/beta/trustFramework/keySets/B2C_1A_Seeded",
        "/beta/trustFramework/keySets/B2C_1A_Seeded/uploadSecret",
        "/beta/trustFramework/keySets/B2C_1A_Seeded/uploadPkcs12",
    ],
)
def test_deep_nesting_inside_a_member_is_refused_on_every_body_route(
    live_state: Live, path: str, depth: int
) -> None:
    before = live_state.snapshot()
    body = b'{"use": "sig", "nbf": ' + nested(depth) + b', "zz": ' + nested(depth) + b"}"
    method = "PATCH" if path.endswith("Seeded") else "POST"
    answer = send_raw(live_state.port, request_bytes(method, path, body))
    assert_graph_error_answer(answer, 400)
    assert live_state.snapshot() == before


@pytest.mark.parametrize(
    "target",
    [
        "/beta/trustFramework/keySets/a%00b",
        "/beta/trustFramework/keySets('a%00b')",
        "/beta/trustFramework/keySets/%ff%fe",
        "/beta/trustFramework/keySets/%zz",
        "/beta/trustFramework/keySets?$filter=id%20eq%20'a%00'",
        "/beta/trustFramework/keySets?$top=%00",
        "/beta/trustFramework/keySets?$skiptoken=%ff%fe",
        "/beta/trustFramework/keySets?$top=1" + "0" * 5000,
        "/beta/trustFramework/keySets?%zz=%zz",
    ],
)
def test_nul_and_invalid_bytes_in_path_and_query_are_answered_without_5xx(
    live_state: Live, target: str
) -> None:
    # A NUL in a filter value simply matches nothing, an unknown option is ignored: both may
    # be 200. What must never happen is a 5xx, or a refusal that is not Graph's error body.
    status, headers, body = send_raw(live_state.port, request_bytes("GET", target))
    assert status < 500, body[:300]
    assert headers["content-type"].startswith("application/json")
    if status >= 400:
        assert set(json.loads(body)["error"]) == {"code", "message", "innerError"}


def test_a_raw_nul_byte_in_the_request_line_is_answered_or_cut_off(live: Live) -> None:
    with connect(live.port) as sock:
        sock.sendall(b"GET /beta/trustFramework/keySets/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n")
        data = sock.recv(65536)
    # werkzeug's HTTP parser refuses it before the app (400, plain text) or drops the line;
    # either way the server survives, which the next request proves.
    assert data == b"" or data.startswith(b"HTTP/1.")
    assert data[9:12] != b"500"
    assert list_answered(live.port) == 200


def test_a_2_gb_content_length_with_a_short_body_is_refused_413_at_once(
    live_state: Live,
) -> None:
    before = live_state.snapshot()
    raw = request_bytes("POST", CREATE, b'{"id": "big"}', {"Content-Length": str(2 * 1024**3)})
    answer = send_raw(live_state.port, raw)
    assert_graph_error_answer(answer, 413)
    assert live_state.snapshot() == before
    assert list_answered(live_state.port) == 200


def test_a_client_stalling_mid_body_does_not_stall_other_clients(live: Live) -> None:
    with connect(live.port) as stalled:
        raw = request_bytes("POST", CREATE, b'{"id": "stalled", "keys": []}')
        stalled.sendall(raw[:-10])  # headers and most of the body; then nothing
        # Bounded wait, generous: the point is that the answer comes at all.
        assert list_answered(live.port) == 200
    assert not live.has("B2C_1A_stalled")


def test_a_client_stalling_in_its_headers_does_not_stall_other_clients(live: Live) -> None:
    with connect(live.port) as stalled:
        stalled.sendall(b"GET /beta/trustFramework/keySets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuth")
        assert list_answered(live.port) == 200


def test_a_client_dribbling_its_body_is_answered_and_others_meanwhile(
    live_state: Live,
) -> None:
    body = b'{"id": "dribbled"}'
    with connect(live_state.port) as slow:
        slow.sendall(request_bytes("POST", CREATE, body)[: -len(body)])
        for i, byte in enumerate(body):
            slow.sendall(bytes([byte]))
            if i % 6 == 0:
                assert list_answered(live_state.port) == 200
            time.sleep(0.01)
        status, _, answer = read_answer(slow)
    assert status == 201, answer[:300]
    assert live_state.has("B2C_1A_dribbled")


def test_many_clients_stalling_mid_body_leave_the_server_answering(live: Live) -> None:
    # More stalled bodies than the production server has threads (8 by default): a server
    # that gives each request a thread before its body has arrived runs out of them.
    stalled: list[socket.socket] = []
    try:
        for i in range(20):
            sock = connect(live.port)
            stalled.append(sock)
            sock.sendall(request_bytes("POST", CREATE, b'{"id": "s%d"}' % i)[:-10])
        time.sleep(0.5)  # lets the server take them all up before the other client comes
        assert list_answered(live.port) == 200
    finally:
        for sock in stalled:
            sock.close()
