"""The one JSON codec: what it refuses (and how it says where), and that whatever it decodes
encodes again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from mockgraph.http.codec import MAX_DEPTH, JsonProblem, decode, depth, encode

URL = "/beta/trustFramework/keySets"


def problem(data: bytes | str) -> str:
    with pytest.raises(JsonProblem) as caught:
        decode(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (rb'{"id": "\ud800"}', "id"),
        (rb'{"id": "a", "keys": [{"kid": "ok"}, {"kid": "x\udc00y"}]}', "keys[1].kid"),
        (rb'{"keys": [{"k": "\ud800\u0041"}]}', "keys[0].k"),
        (rb'[1, {"a": ["\udbff"]}]', "[1].a[0]"),
        (rb'{"a": {"b": "\ud800"}, "c": "\ud800"}', "a.b"),
    ],
)
def test_a_lone_surrogate_escape_is_refused_naming_its_property(data: bytes, path: str) -> None:
    assert problem(data) == (
        f"holds a lone surrogate escape in the property '{path}', which is not valid Unicode"
    )


def test_a_lone_surrogate_in_a_member_name_is_refused() -> None:
    assert problem(rb'{"id": "a", "x\ud800": 1}').startswith("holds a lone surrogate escape")


def test_a_surrogate_pair_is_one_character() -> None:
    assert decode(rb'"\ud83d\ude00"') == "\U0001f600"


def test_a_lone_surrogate_in_a_large_body_is_found_in_linear_time() -> None:
    data = b"[" + b"0," * 300_000 + rb'"\ud800"]'  # 600 kB, under the default body limit
    started = time.perf_counter()
    assert "'[300000]'" in problem(data)
    assert time.perf_counter() - started < 5  # linear: well under 1 s; a quadratic walk: over 10 s


@pytest.mark.parametrize(
    ("data", "offset"),
    [(b"\xff", 0), (b'{"a": "b\xff"}', 8), (b'"\xed\xa0\x80"', 1), (b'"\xc3"', 1)],
)
def test_bytes_that_are_not_utf_8_are_refused_with_the_offset(data: bytes, offset: int) -> None:
    assert problem(data) == f"is not valid UTF-8 (byte {offset})"


def test_a_byte_order_mark_is_refused() -> None:
    assert problem(b"\xef\xbb\xbf{}") == "is not valid JSON: it starts with a byte order mark"


@pytest.mark.parametrize("data", [b"NaN", b"-Infinity", b"Infinity", b"1e400", b"-1e400"])
def test_values_json_has_no_number_for_are_refused(data: bytes) -> None:
    assert problem(b'{"nbf": ' + data + b"}").startswith("is not valid JSON: ")


def test_invalid_json_says_where() -> None:
    assert problem(b'{"id": ').endswith("(line 1, column 8)")


def _nested(levels: int) -> bytes:
    return b'{"a": ' * (levels - 1) + b"[1]" + b"}" * (levels - 1)


def test_nesting_of_64_levels_is_accepted_and_65_refused() -> None:
    assert depth(decode(_nested(MAX_DEPTH))) == MAX_DEPTH == 64
    assert problem(_nested(MAX_DEPTH + 1)) == "is nested more than 64 levels deep"
    assert problem(b"[" * 100_000 + b"]" * 100_000) == "is nested more than 64 levels deep"


def test_brackets_inside_strings_are_no_nesting() -> None:
    value = ["[" * 200, {"x": "{" * 200}]
    assert decode(json.dumps(value).encode()) == value


def test_depth_counts_containers_and_a_scalar_is_zero() -> None:
    assert (depth(1), depth([]), depth({"a": [1]}), depth([[[]], []])) == (0, 1, 2, 3)


def test_the_app_refuses_each_such_body_with_a_graph_400(client: FlaskClient) -> None:
    bodies = {
        rb'{"id": "\ud800"}': "The request body holds a lone surrogate escape in the property "
        "'id', which is not valid Unicode.",
        _nested(MAX_DEPTH + 1): "The request body is nested more than 64 levels deep.",
        b'{"id": NaN}': "The request body is not valid JSON: ",
        b'{"id": "\xff"}': "The request body is not valid UTF-8 (byte 8).",
    }
    for data, message in bodies.items():
        answer = client.post(URL, data=data, content_type="application/json")
        assert answer.status_code == 400
        error = answer.get_json()["error"]
        assert error["code"] == "invalidRequest"
        assert error["message"].startswith(message)
    assert client.get(URL).get_json()["value"] == []


def test_encode_is_compact_utf_8_or_indented_and_sorted() -> None:
    assert encode({"b": "å", "a": [1]}) == '{"b":"å","a":[1]}'.encode()
    assert encode({"b": 1, "a": 2}, indent=True, sort=True) == b'{\n  "a": 2,\n  "b": 1\n}'


_JSON_TEXTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
).map(lambda value: json.dumps(value).encode()) | st.binary(max_size=40)


@settings(max_examples=400, deadline=None)
@given(data=_JSON_TEXTS)
def test_whatever_decodes_encodes_and_decodes_to_the_same_value(data: bytes) -> None:
    try:
        value = decode(data)
    except JsonProblem:
        return
    assert _same(decode(encode(value)), value)


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values of equal types (1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
