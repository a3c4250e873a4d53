"""Web pages against the served mock: a page of another origin (``null`` included) reaches no
control endpoint, whatever its method or content type (a form's ``text/plain`` needs no
preflight); a DNS-rebinding page (a foreign ``Host``, ``localhost.evil.example`` included)
reaches nothing at all; no ``/_mockgraph`` answer grants CORS; Graph's routes grant it to the
allowed (loopback) origins only. Every refusal is Graph's error body and changes nothing.
"""

from __future__ import annotations

import pytest
from attacks.served import KEYSETS, SEED, Answer, Served, check_refused

pytestmark = pytest.mark.slow

#: The control API's endpoints, each with a body a web page could send to it.
CONTROL = [
    ("POST", "/_mockgraph/reset", b""),
    ("POST", "/_mockgraph/state", b'{"keySets": []}'),
    ("POST", "/_mockgraph/clock", b'{"now": 0}'),
    ("DELETE", "/_mockgraph/requests", b""),
    ("GET", "/_mockgraph/state?secrets=true", b""),
    ("GET", "/_mockgraph/state", b""),
    ("GET", "/_mockgraph/requests", b""),
    ("GET", "/_mockgraph/clock", b""),
    ("GET", "/_mockgraph/health", b""),
    ("GET", "/_mockgraph/openapi.json", b""),
]
FOREIGN_ORIGINS = [
    "https://evil.example",
    "null",
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io",
    "http://localhost:3000",  # a loopback origin Graph's routes allow: not this server's own
    "file://",
    "chrome-extension://abcdefghijklmnop",
    "HTTPS://EVIL.EXAMPLE",
    "",
]
#: The content types a form or a no-cors fetch sends without a preflight.
SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
#: Names a DNS-rebinding page's requests carry as Host, and other names that are not this
#: machine's.
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:80",
    "localhost.evil.example",
    "localhost.evil.example:8000",
    "127.0.0.1.evil.example",
    "127.0.0.1.nip.io",
    "7f000001.rbndr.us",
    "localhost@evil.example",
    "evil.example#localhost",
    "0.0.0.0",
    "192.168.1.10",
    "[::1].evil.example",
    "localhostevil.example",
]


def no_cors(answer: Answer) -> None:
    granted = {k: v for k, v in answer.headers.items() if k.startswith("access-control-")}
    assert not granted, (answer.method, answer.target, granted)


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_no_control_endpoint_answers_a_page_of_another_origin(served: Served, origin: str) -> None:
    for method, path, body in CONTROL:
        for content_type in SIMPLE_TYPES if body or method != "GET" else [None]:
            headers = {"Origin": origin}
            if content_type is not None:
                headers["Content-Type"] = content_type

            def attack(
                m: str = method, p: str = path, b: bytes = body, h: dict[str, str] = headers
            ) -> Answer:
                served.request("GET", KEYSETS)  # an entry a clear would remove
                answer = served.request(m, p, b or None, h, token=None)
                assert served.journal(), "a page of another origin cleared the journal"
                return answer

            answer = check_refused(served, attack, must_refuse=True)
            assert answer is not None and answer.status == 403, answer.text()
            assert b"c2VjcmV0LXZhbHVl" not in answer.body  # the seeded secret
            no_cors(answer)


def test_a_reset_from_evil_example_as_text_plain_is_refused_and_resets_nothing(
    served: Served,
) -> None:
    served.seed()
    answer = check_refused(
        served,
        lambda: served.request(
            "POST",
            "/_mockgraph/reset",
            b"reset",
            {"Origin": "https://evil.example", "Content-Type": "text/plain"},
            token=None,
        ),  # fmt: skip
        must_refuse=True,
    )
    assert answer is not None and answer.status == 403
    held = sorted(served.state()["keySets"], key=lambda item: item["id"])
    assert held == sorted(SEED["keySets"], key=lambda item: item["id"])


def test_this_servers_own_origin_may_use_the_control_api(served: Served) -> None:
    # Guards the refusals above: they are about the origin, not about every Origin header.
    answer = served.request("GET", "/_mockgraph/health", headers={"Origin": served.root})
    assert answer.status == 200, answer.text()
    no_cors(answer)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_no_request_naming_a_foreign_host_is_answered(served: Served, host: str) -> None:
    for method, path, body in [
        ("GET", "/_mockgraph/state?secrets=true", None),
        ("GET", "/_mockgraph/requests", None),
        ("POST", "/_mockgraph/reset", None),
        ("GET", KEYSETS, None),
        ("POST", KEYSETS, b'{"id": "Rebound"}'),
        ("DELETE", f"{KEYSETS}/B2C_1A_Seeded", None),
    ]:
        answer = check_refused(
            served,
            lambda m=method, p=path, b=body: served.request(m, p, b, {"Host": host}),
            must_refuse=True,
        )
        assert answer is not None and answer.status == 400, (host, answer.text())
        assert "Host" in answer.json()["error"]["message"]
        assert b"c2VjcmV0LXZhbHVl" not in answer.body
        no_cors(answer)


def test_two_host_headers_one_foreign_are_refused(served: Served) -> None:
    raw = (
        b"GET /_mockgraph/state?secrets=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Host: evil.example\r\nConnection: close\r\n\r\n"
    )
    answer = check_refused(served, lambda: served.raw(raw), protocol_refusal_ok=True)
    assert answer is None or answer.status == 400
    assert answer is None or b"c2VjcmV0LXZhbHVl" not in answer.body


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "localhost.", "app.localhost", "127.0.0.2", "[::1]"]
)
def test_loopback_names_are_answered(served: Served, host: str) -> None:
    # Guards the refusals above: loopback names (RFC 6761) reach the server.
    answer = served.request("GET", "/_mockgraph/health", headers={"Host": host}, token=None)
    assert answer.status == 200, answer.text()


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://evil.example", "null"])
def test_no_control_preflight_is_granted(served: Served, origin: str) -> None:
    for method, path, _ in CONTROL:
        answer = served.request(
            "OPTIONS",
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "content-type",
            },
            token=None,
        )
        assert answer.status == 403, answer.text()
        no_cors(answer)


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost.evil.example", "http://[::1"]
)
def test_graph_routes_grant_no_cors_to_a_foreign_origin(served: Served, origin: str) -> None:
    preflight = served.request(
        "OPTIONS", KEYSETS, token=None,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.status == 403, preflight.text()
    no_cors(preflight)
    read = served.request("GET", KEYSETS, headers={"Origin": origin})
    assert read.status == 200
    no_cors(read)


def test_a_cross_site_form_cannot_write_to_graph(served: Served) -> None:
    # A form carries no Authorization header (setting one needs a preflight, refused above).
    for content_type in SIMPLE_TYPES:
        answer = check_refused(
            served,
            lambda ct=content_type: served.request(
                "POST",
                KEYSETS,
                b'{"id": "Forged"}',
                {"Origin": "https://evil.example", "Content-Type": ct},
                token=None,
            ),  # fmt: skip
            must_refuse=True,
        )
        assert answer is not None and answer.status == 401, answer.text()
        no_cors(answer)


def test_graph_routes_grant_cors_to_a_loopback_origin(served: Served) -> None:
    # Guards the test above: CORS works where it should.
    origin = "http://localhost:3000"
    read = served.request("GET", KEYSETS, headers={"Origin": origin})
    assert read.headers.get("access-control-allow-origin") == origin
