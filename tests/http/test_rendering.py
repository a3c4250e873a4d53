"""Rendering: the answers' headers as sent, and the helpers the request steps share."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Response
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from mockgraph import Config, create_app
from mockgraph.http import parsing, rendering
from mockgraph.http.contracts import Contracts
from mockgraph.http.rendering import GraphResponse, dumps, header_value, json_response, location

URL = "/beta/trustFramework/keySets"
JSON = "application/json"
ENVIRON = EnvironBuilder(path="/beta/trustFramework/keySets", method="POST").get_environ()

header_names = st.sampled_from(
    ["Location", "location", "Content-Location", "Content-Length", "Vary", "request-id"]
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\x7f"),
    max_size=30,
) | st.sampled_from(["/", "//host/x", "/a?b=1", "/a#f", "/keySets('B2C_1A_x')", "/%C3%A5"])


@settings(max_examples=400)
@given(
    status=st.sampled_from([100, 200, 201, 202, 204, 301, 304, 400, 404, 500]),
    headers=st.lists(st.tuples(header_names, header_values), max_size=5),
    body=st.none() | st.text(max_size=10),
)
def test_graph_response_sends_exactly_the_headers_werkzeug_would(
    status: int, headers: list[tuple[str, str]], body: str | None
) -> None:
    ours = GraphResponse(body, status=status, headers=headers)
    theirs = Response(body, status=status, headers=headers)
    sent = ours.get_wsgi_headers(ENVIRON).to_wsgi_list()
    assert sent == theirs.get_wsgi_headers(ENVIRON).to_wsgi_list()


@given(keyset_id=st.from_regex(r"\A[A-Za-z0-9_.\-]{1,40}\Z"))
def test_a_created_key_sets_answer_is_sent_with_the_headers_it_was_built_with(
    keyset_id: str,
) -> None:
    answer = json_response({"id": keyset_id}, 201, {"Location": location(keyset_id)})
    assert isinstance(answer, GraphResponse)
    # The shortcut is taken: werkzeug's conversion of Location would change nothing.
    assert answer.get_wsgi_headers(ENVIRON) is answer.headers
    assert answer.headers["Location"] == location(keyset_id)


def test_an_answer_without_its_length_gets_it_from_werkzeug() -> None:
    answer = GraphResponse(b"{}", status=200)
    del answer.headers["Content-Length"]
    assert answer.get_wsgi_headers(ENVIRON)["Content-Length"] == "2"


def test_header_value_finds_a_header_in_any_case_and_none_when_absent() -> None:
    headers = Headers([("Vary", "Origin"), ("vary", "Accept"), ("Content-Type", "text/plain")])
    assert header_value(headers, "VARY") == "Origin"
    assert header_value(headers, "content-type") == "text/plain"
    assert header_value(headers, "Location") is None


_ANSWER_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=300)
@given(value=_ANSWER_VALUES)
def test_answers_are_encoded_byte_for_byte_as_the_standard_library_would(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert dumps(value) == expected


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_in_an_answer_decodes_to_the_same_float(value: float) -> None:
    assert repr(json.loads(dumps({"v": value}))["v"]) == repr(value)


def test_without_orjson_the_app_answers_the_very_same_bytes(
    contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where orjson has no wheel, the standard library reads and writes every body."""
    body = {
        "id": "keyset1",
        "keys": [{"kid": "k1", "kty": "RSA", "use": "sig", "e": "AQAB", "n": "0vx7ag", "nbf": 5}],
    }

    def session() -> list[tuple[int, bytes]]:
        client = create_app(Config(clock=1.0), contracts=contracts).test_client()
        headers = {"Authorization": "Bearer t", "client-request-id": "fixed"}
        answers = [
            client.post(URL, json=body, headers=headers),
            client.get(URL + "/B2C_1A_keyset1", headers=headers),
            client.get(URL + "?$top=5", headers=headers),
            client.post(URL, data=b'{"id": 1e400}', headers=headers, content_type=JSON),
            client.post(URL, json=body, headers=headers),
        ]
        # The error bodies hold the request-id and the date: compare what is not per request.
        return [
            (a.status_code, a.data if a.status_code < 400 else a.json["error"]["message"].encode())
            for a in answers
        ]

    with_orjson = session()
    monkeypatch.setattr(parsing, "_orjson", None)
    monkeypatch.setattr(rendering, "_orjson", None)
    assert session() == with_orjson
    assert [status for status, _ in with_orjson] == [201, 200, 200, 400, 409]
