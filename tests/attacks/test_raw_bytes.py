"""Raw bytes against the served mock's HTTP parsing: control and non-ASCII bytes in header values
and request targets, a ``client-request-id`` that is not printable ASCII, a garbage fault header,
broken chunked framing, ambiguous lengths. Each is Graph's error (or, for bytes no HTTP/1.1
message may hold, the parser's bare refusal before any app sees them), never a 5xx, and
changes nothing.
"""

from __future__ import annotations

import pytest
from attacks.served import (
    KEYSETS,
    TOKEN,
    Served,
    check_refused,
    request_bytes,
)
from attacks.targets import (
    HEADER_NAMES,
    TEXT,
    fuzz,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


#: Bytes no header value may hold (controls, DEL) and bytes that are not ASCII.
ODD_BYTES = st.binary(min_size=1, max_size=6).map(
    lambda b: bytes(c for c in b if c not in b"\r\n") or b"\x00"
) | st.sampled_from([b"\x00", b"\x01", b"\x1b[31m", b"\x7f", b"\x80", b"\xff", b"\xc3\xa9",
                     b"\xed\xa0\x80", b"\t", b"\x0b\x0c"])  # fmt: skip


@st.composite
def odd_header(draw: st.DrawFn) -> tuple[str, bytes, str]:
    name = draw(HEADER_NAMES | st.sampled_from(["Host", "X-Api-Key", "Content-Length"]))
    value = draw(TEXT).encode() + draw(ODD_BYTES) + draw(TEXT).encode()
    if name == "Authorization":
        value = b"Bearer " + value
    if name == "Host":
        value = b"127.0.0.1" + value
    method = draw(st.sampled_from(["GET", "POST"]))
    return name, value, method


@fuzz(500)
@given(header=odd_header())
def test_no_header_value_with_raw_control_or_non_ascii_bytes_gets_a_5xx_or_changes_the_store(
    served: Served, header: tuple[str, bytes, str]
) -> None:
    name, value, method = header
    body = b'{"id": "Raw", "keys": []}' if method == "POST" else b""
    headers: dict[str, str | bytes | None] = {name: value}
    if name == "Content-Length":  # an odd length: the body as it is, framing left to it
        headers = {"Content-Length": value}
    raw = request_bytes(method, KEYSETS, body, headers)
    answer = check_refused(served, lambda: served.raw(raw), protocol_refusal_ok=True)
    # The parser trims spaces and tabs around a value (RFC 9110, 5.5); what is left must be
    # printable ASCII to be echoed back as an id.
    odd = any(c < 0x20 or c > 0x7E for c in value.strip(b" \t"))
    if name == "client-request-id" and odd and answer is not None and answer.status != 400:
        pytest.fail(f"a client-request-id of {value!r} was taken: {answer.text()}")


#: Request targets as raw bytes: the ASCII an URL may not hold unescaped, controls, bytes that
#: are not ASCII, escapes of any byte.
TARGET_PIECES = st.lists(
    st.sampled_from([b"/", b"'", b"(", b")", b"%", b"%00", b"%2F", b"%ED%A0%80", b"%C0%AF",
                     b"..", b"$", b"?", b"&", b"=", b"#", b'"', b"<", b"\\", b"^", b"`", b"{",
                     b"|", b"\x7f", b"\x00", b"\x01", b"\x80", b"\xe9", b"\xed\xa0\x80", b"\t"])
    | st.binary(min_size=1, max_size=3).filter(lambda b: b" " not in b and b"\r" not in b
                                                and b"\n" not in b),
    max_size=6,
).map(b"".join)  # fmt: skip


@fuzz(300)
@given(
    prefix=st.sampled_from(
        [KEYSETS + "/", KEYSETS + "('", KEYSETS + "?$filter=", "/", "/_mockgraph/"]
    ),
    tail=TARGET_PIECES,
    method=st.sampled_from(["GET", "DELETE", "POST"]),
)
def test_no_request_target_with_raw_bytes_gets_a_5xx_or_changes_the_store(
    served: Served, prefix: str, tail: bytes, method: str
) -> None:
    body = b'{"id": "Target"}' if method == "POST" else b""
    raw = request_bytes(method, "@", body).replace(b"@", prefix.encode() + tail, 1)
    check_refused(served, lambda: served.raw(raw), protocol_refusal_ok=True)


def test_a_non_ascii_client_request_id_is_refused_and_not_echoed(served: Served) -> None:
    for value in (b"\xff", b"caf\xc3\xa9", b"\xed\xa0\x80", b"abc\x80"):
        raw = request_bytes("POST", KEYSETS, b'{"id": "Echo"}', {"client-request-id": value})
        answer = check_refused(served, lambda raw=raw: served.raw(raw), must_refuse=True)
        assert answer is not None and answer.status == 400, answer
        assert "client-request-id" in answer.json()["error"]["message"]
        assert answer.headers["client-request-id"] == answer.headers["request-id"]


def test_a_garbage_fault_header_is_a_400_never_an_injected_5xx(served: Served) -> None:
    for value in ("\x80503", "503\x80", "5O3", "delay", "retry-after=1", "429 429", "delay 1h"):
        raw = request_bytes("GET", KEYSETS, b"", {"X-MockGraph-Fault": value.encode("latin-1")})
        answer = check_refused(served, lambda raw=raw: served.raw(raw), must_refuse=True)
        assert answer is not None and answer.status == 400, answer


# -- framing ---------------------------------------------------------------------------------
_CREATE = (
    b"POST " + KEYSETS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Authorization: " + TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\n"
)


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"zz\r\n{}\r\n0\r\n\r\n", id="size-not-hex"),
        pytest.param(b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", id="size-overflows"),
        pytest.param(b"2\r\n{}XX0\r\n\r\n", id="no-crlf-after-data"),
        pytest.param(b"2;" + b"x" * 100_000 + b"\r\n{}\r\n0\r\n\r\n", id="huge-extension"),
        pytest.param(b"-2\r\n{}\r\n0\r\n\r\n", id="negative-size"),
    ],
)
def test_broken_chunked_framing_is_a_graph_400_and_changes_nothing(
    served: Served, framing: bytes
) -> None:
    raw = _CREATE + b"Transfer-Encoding: chunked\r\n\r\n" + framing
    answer = check_refused(served, lambda: served.raw(raw, timeout=15), must_refuse=True)
    assert answer is not None and answer.status == 400, answer


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"Content-Length: -1\r\n", id="negative-length"),
        pytest.param(b"Content-Length: +2\r\n", id="signed-length"),
        pytest.param(b"Content-Length: 2\r\nContent-Length: 3\r\n", id="two-lengths"),
        pytest.param(b"Transfer-Encoding: foo\r\n", id="unknown-coding"),
    ],
)
def test_ambiguous_framing_is_refused_before_the_app_and_changes_nothing(
    served: Served, head: bytes
) -> None:
    raw = _CREATE + head + b'\r\n{"id": "Framed"}'
    check_refused(served, lambda: served.raw(raw, timeout=15), protocol_refusal_ok=True)
    assert all(k["id"] != "B2C_1A_Framed" for k in served.state()["keySets"])


def test_a_2_gb_content_length_with_a_short_body_is_a_413_at_once(served: Served) -> None:
    raw = _CREATE + b"Content-Length: 2147483648\r\n\r\n" + b'{"id": "Big"}'
    answer = check_refused(served, lambda: served.raw(raw, timeout=15), must_refuse=True)
    assert answer is not None and answer.status == 413, answer
