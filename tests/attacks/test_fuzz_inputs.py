"""Any input on every route of the served mock: arbitrary methods, paths, ids, query options,
headers and bodies (JSON or not); URLs no client should send; hostile ``$batch`` items; writes
answered with an injected 5xx. No answer is a 5xx a client caused; a refusal is Graph's error
body (OAuth's at the token endpoint) and changes nothing (:func:`attacks.served.check_refused`).
"""

from __future__ import annotations

import copy
import json
import string
from typing import Any
from urllib.parse import quote

import pytest
from attacks.served import (
    KEYSETS,
    TOKEN,
    Served,
    assert_graph_error,
)
from attacks.targets import (
    HEADER_NAMES,
    SEEDED_ID,
    TEXT,
    Attack,
    Target,
    fuzz,
    run,
    with_body,
)
from hypothesis import given
from hypothesis import strategies as st

from mockgraph.resources.keysets.operations import OPERATIONS

pytestmark = pytest.mark.slow


def test_every_operation_that_takes_a_body_is_attacked_with_one(bodies: dict[str, Any]) -> None:
    # A new operation with a body must join the fuzzing: give it a body here.
    assert {op.id for op in OPERATIONS if op.body is not None} <= set(bodies)


def test_every_attacked_body_is_accepted_as_it_is(served: Served, targets: list[Target]) -> None:
    # Guards the fuzzing below: what refuses an attacked body is the attack, not the body.
    for target in with_body(targets):
        for method in target.methods:
            served.seed()
            answer = served.request(
                method, target.url(0), json_body=target.body, token=TOKEN if target.token else None
            )
            assert 200 <= answer.status < 300, (target.name, method, answer.text())
            if target.name == "$batch":
                statuses = [item["status"] for item in answer.json()["responses"]]
                assert statuses == [201, 200], answer.text()
    served.seed()


def test_a_write_answered_with_an_injected_5xx_or_429_is_not_applied(
    served: Served, targets: list[Target]
) -> None:
    # The one way a client makes the mock answer a 5xx on purpose: such a write changes
    # nothing, alone or as a $batch item.
    for target in with_body(targets):
        if not target.urls[0].startswith("/beta/"):
            continue
        for method in target.methods:
            for fault, status in (
                ("503", 503),
                ("429 retry-after=0", 429),
                ("delay 10ms 503", 503),
            ):
                body = copy.deepcopy(target.body)
                if target.name == "$batch":  # each item carries its own fault
                    for item in body["requests"]:
                        item.setdefault("headers", {})["X-MockGraph-Fault"] = fault
                before = served.snapshot()
                answer = served.request(
                    method, target.url(0), json.dumps(body).encode(),
                    {"Content-Type": "application/json", "X-MockGraph-Fault": fault},
                )  # fmt: skip
                if target.name == "$batch":
                    assert answer.status == 200, answer.text()
                    assert all(r["status"] >= 400 for r in answer.json()["responses"])
                else:
                    assert answer.status == status, answer.text()
                    assert_graph_error(answer)
                    assert answer.headers.get("retry-after") == ("0" if status == 429 else "1")
                assert served.snapshot() == before, (target.name, fault)


# -- URLs no client should send -----------------------------------------------------------
@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "//beta/trustFramework/keySets"),
        ("POST", "//beta/trustFramework/keySets"),
        ("POST", "//_mockgraph/reset"),
        ("GET", "//_mockgraph/state?secrets=true"),
        ("GET", "/beta//trustFramework/keySets"),
        ("DELETE", "/beta/trustFramework//keySets/B2C_1A_Seeded"),
    ],
)
def test_a_double_slash_path_is_a_graph_404_never_a_redirect(
    served: Served, method: str, target: str
) -> None:
    body = b'{"id": "Slashed"}' if method == "POST" else None
    answer = run(served, Attack(method, target, body, refused=True))
    assert answer.status == 404, answer.text()
    assert "location" not in answer.headers


@pytest.mark.parametrize(
    "target",
    [
        f"{KEYSETS}/a%00b",
        f"{KEYSETS}('a%00b')",
        f"{KEYSETS}/%ff%fe",
        f"{KEYSETS}/%zz",
        f"{KEYSETS}?$filter=id%20eq%20'a%00'",
        f"{KEYSETS}?$top=%00",
        f"{KEYSETS}?$skiptoken=%ff%fe",
        f"{KEYSETS}?$top=1" + "0" * 5000,
        f"{KEYSETS}?%zz=%zz",
        f"{KEYSETS}?%C0%AF=1",
    ],
)
def test_nul_and_invalid_bytes_in_path_and_query_never_get_a_5xx(
    served: Served, target: str
) -> None:
    run(served, Attack("GET", target))


@pytest.mark.parametrize(
    "spelled",
    [
        pytest.param("B2C_1A_%C5%BFeeded", id="long-s"),  # U+017F folds to "s"
        pytest.param("B2C_1A_Seeded%E2%80%8B", id="zero-width-space"),
        pytest.param("B2C_1A_%EF%BC%B3eeded", id="fullwidth-S"),
    ],
)
def test_an_id_no_key_set_can_have_names_none_of_them(served: Served, spelled: str) -> None:
    # Ids are ASCII (letters, digits, '_', '.', '-') and compare in ASCII letter case only: a
    # name that Unicode case folding maps onto a stored id is another name.
    for method, target in (
        ("GET", f"{KEYSETS}/{spelled}"),
        ("GET", f"{KEYSETS}/{spelled}/getActiveKey()"),
        ("DELETE", f"{KEYSETS}('{spelled}')"),
        ("PATCH", f"{KEYSETS}/{spelled}/keys_v2/k2"),
    ):
        body = b'{"status": "disabled"}' if method == "PATCH" else None
        answer = run(served, Attack(method, target, body, refused=True))
        assert answer.status == 404, answer.text()
    listed = run(served, Attack("GET", f"{KEYSETS}?$filter=id%20eq%20'{spelled}'"))
    assert listed.json()["value"] == [], listed.text()


# -- $batch items ---------------------------------------------------------------------------
#: Item headers a batch may carry whatever their value: the item's framing is the batch's own
#: (its body's length), and any other header is the client's business.
TAKEN = {"X-A", "Content-Length"}


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"url": "/trustFramework/keySets/%ED%A0%80"}, id="url-id-not-utf8"),
        pytest.param({"url": "/trustFramework/keySets?$skiptoken=%ED%A0%80"}, id="url-query"),
        pytest.param({"url": "/trustFramework/keySets/\u20ac\u0000"}, id="url-nul"),
        pytest.param({"url": "//trustFramework/keySets"}, id="url-double-slash"),
        pytest.param({"url": "/%2e%2e/_mockgraph/reset", "method": "POST"}, id="url-dot-dot"),
        pytest.param({"headers": {"Host": "evil.example"}}, id="foreign-host"),
        pytest.param({"headers": {"client-request-id": "\u20ac"}}, id="request-id-not-ascii"),
        pytest.param({"headers": {"X-A": "\u20ac\u0000\u0085"}}, id="header-odd-text"),
        pytest.param({"headers": {"X-MockGraph-Fault": "\u0661"}}, id="fault-arabic-digit"),
        pytest.param(
            {
                "method": "POST",
                "url": "/trustFramework/keySets",
                "body": {"id": "X"},
                "headers": {"Content-Type": "application/json", "Content-Length": "-5"},
            },
            id="content-length-negative",
        ),
        pytest.param(
            {
                "method": "POST",
                "url": "/trustFramework/keySets",
                "body": {"id": "X"},
                "headers": {"Content-Type": "application/json", "Content-Length": "abc"},
            },
            id="content-length-text",
        ),
        pytest.param(
            {
                "method": "POST",
                "url": "/trustFramework/keySets",
                "body": {"id": "X"},
                "headers": {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            },
            id="transfer-encoding",
        ),
        pytest.param(
            {
                "method": "PATCH",
                "url": "/trustFramework/keySets/B2C_1A_Seeded",
                "body": "AAAA",
                "headers": {"Content-Type": "application/octet-stream"},
            },
            id="binary-body",
        ),
    ],
)
def test_a_hostile_batch_item_is_refused_alone_and_changes_nothing(
    served: Served, item: dict[str, Any]
) -> None:
    request = {"id": "1", "method": "GET", "url": "/trustFramework/keySets", **item}
    document = {"requests": [request]}
    attack = Attack("POST", "/beta/$batch", json.dumps(document).encode())
    answer = run(served, attack)
    if answer.status == 200:
        status = answer.json()["responses"][0]["status"]
        assert 400 <= status < 500 or item.get("headers", {}).keys() & TAKEN, answer.text()


def test_a_batch_item_url_that_is_not_utf8_is_refused_as_the_same_request_is(
    served: Served,
) -> None:
    # A $batch item is the request it describes: refused with the same status and message.
    target = "/trustFramework/keySets/B2C_1A_%ED%A0%80"
    direct = run(served, Attack("GET", "/beta" + target, refused=True))
    batch = {"requests": [{"id": "1", "method": "GET", "url": target}]}
    answer = run(served, Attack("POST", "/beta/$batch", json.dumps(batch).encode()))
    item = answer.json()["responses"][0]
    assert (item["status"], item["body"]["error"]["message"]) == (
        direct.status,
        direct.json()["error"]["message"],
    ), item


# -- anything at all on every route ------------------------------------------------------------
MEMBERS = (
    "id", "keys", "use", "kty", "nbf", "exp", "k", "key", "password", "status", "kid", "x5c",
    "e", "n", "d", "@odata.type", "requests", "now", "method", "url", "body", "dependsOn",
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["sig", "enc", "RSA", "oct", SEEDED_ID, "enabled", "", "\x00", "GET"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(MEMBERS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=16,
)
NEAR_OBJECTS = st.dictionaries(st.sampled_from(MEMBERS), JSON_VALUES, min_size=1, max_size=5)
RAW_BODIES = st.binary(max_size=40) | st.sampled_from(
    [b"{", b'{"id": NaN}', b"[" * 5000, b'{"a": 1e999}', b"\xff\xfe{}", b'{"id":"\x00"}',
     b"\xef\xbb\xbf{}", b'"{\\"id\\": \\"x\\"}"']
)  # fmt: skip
BODIES = (
    NEAR_OBJECTS.map(lambda v: json.dumps(v).encode())
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | RAW_BODIES
    | st.none()
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json",
     "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)  # fmt: skip
OPTIONS = st.sampled_from(
    ["$top", "$skip", "$filter", "$orderby", "$select", "$count", "$skiptoken", "$expand",
     "$search", "top", "operation", "limit", "secrets", "method", "$TOP", "%24top"]
) | st.text(string.ascii_letters, max_size=6)  # fmt: skip
VALUES = st.sampled_from(
    ["1", "0", "-1", "999", "1000", "99999999999999999999", "id", "id desc", "keys", "true",
     f"id eq '{SEEDED_ID}'", "startswith(id,'B2C')", "''", "id eq ''''", "1e3", "²"]
) | st.text(max_size=12)  # fmt: skip
QUERIES = st.lists(st.tuples(OPTIONS, VALUES), max_size=4).map(
    lambda pairs: "&".join(f"{k if k.startswith('%') else quote(k, safe='$')}="
                           f"{quote(v, safe='')}" for k, v in pairs)
)  # fmt: skip
IDS = st.sampled_from([SEEDED_ID, "b2c_1a_seeded", "B2C_1A_it.s", "missing", "it's", "k1"]) | TEXT
METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"])
OTHER_ROUTES = (
    "/beta/$batch", "/beta/$metadata", "/_mockgraph/health", "/_mockgraph/requests",
    "/_mockgraph/state", "/_mockgraph/clock", "/_mockgraph/reset", "/_mockgraph/openapi.json",
    "/common/oauth2/v2.0/token", "/common/v2.0/.well-known/openid-configuration",
    "/common/discovery/v2.0/keys", "/beta", "/", "/beta/trustFramework", "/_mockgraph",
)  # fmt: skip
EXTRA_HEADERS = st.lists(
    st.tuples(
        HEADER_NAMES | st.sampled_from(["Access-Control-Request-Method", "X-HTTP-Method-Override"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    ),
    max_size=3,
)


@st.composite
def anything(draw: st.DrawFn, targets: list[Target]) -> Attack:
    if draw(st.integers(0, 4)) == 0:
        path = draw(st.sampled_from(OTHER_ROUTES))
    else:
        target = draw(st.sampled_from(targets))
        index = draw(st.integers(0, 7))
        path = target.url(index, quote(draw(IDS), safe="'"), quote(draw(IDS), safe="'"))
    query = draw(QUERIES)
    attack = Attack(draw(METHODS), path + (f"?{query}" if query else ""), draw(BODIES))
    if attack.body is not None:
        attack.headers["Content-Type"] = (
            "application/json" if draw(st.booleans()) else draw(CONTENT_TYPES)
        )
    attack.headers.update(dict(draw(EXTRA_HEADERS)))
    attack.token = draw(st.sampled_from([True, True, True, False]))
    return attack


@fuzz(600)
@given(data=st.data())
def test_no_request_on_any_route_gets_a_5xx_and_a_refusal_changes_nothing(
    served: Served, targets: list[Target], data: st.DataObject
) -> None:
    run(served, data.draw(anything(targets)))


def test_an_oauth_refusal_keeps_the_oauth_shape(served: Served) -> None:
    # The sign-in authority answers OAuth's error body, as the identity platform does.
    answer = served.request(
        "POST", "/common/oauth2/v2.0/token", b"grant_type=password",
        {"Content-Type": "application/x-www-form-urlencoded"}, token=None,
    )  # fmt: skip
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_request"
