"""The request journal: a ring bounded by count (``Config.journal_size``) and by body bytes
(``Config.journal_bytes``), every exchange with its operation, status and contract violations,
secrets and tokens redacted."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from typing import Any

import pytest
from flask import Flask, Request, request
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from mockgraph import Config, create_app
from mockgraph.features import journal
from mockgraph.features.journal import Entry, Exchange, Journal, parse_query
from mockgraph.features.redact import REDACTED
from mockgraph.http.contracts import Contracts
from mockgraph.state import mockgraph

KEYSETS = "/beta/trustFramework/keySets"


def entry(seq: int) -> Entry:
    return Entry(
        seq=seq, time=0.0, monotonic=0.0, method="GET", path="/", query={}, headers={},
        body=None, status=200, response_headers={}, response_body=None, operation=None,
        duration_ms=0.0,
    )  # fmt: skip


def test_the_ring_keeps_only_the_newest_entries() -> None:
    journal = Journal(3)
    for seq in range(1, 6):
        journal.add(entry(seq))
    assert [e.seq for e in journal] == [3, 4, 5]
    assert len(journal) == 3


def test_size_zero_keeps_nothing() -> None:
    journal = Journal(0)
    journal.add(entry(1))
    assert journal.entries() == []


def test_clear_empties_it_but_sequence_numbers_go_on() -> None:
    journal = Journal(5)
    journal.add(entry(journal.next_seq()))
    journal.clear()
    assert len(journal) == 0
    assert journal.next_seq() == 2


def client_of(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer journal-token"
    return client


def test_journal_size_bounds_what_a_long_run_keeps(contracts: Contracts) -> None:
    app = create_app(Config(journal_size=2), contracts=contracts)
    client = client_of(app)
    for name in ("a", "b", "c", "d"):
        client.post(KEYSETS, json={"id": name})
    kept = client.get("/_mockgraph/requests").get_json()["requests"]
    assert [e["body"] for e in kept] == [{"id": "c"}, {"id": "d"}]
    assert [e["seq"] for e in kept] == [3, 4]


def test_an_exchange_is_journaled_with_operation_query_status_and_timing(
    client: FlaskClient, app: Flask
) -> None:
    client.post(KEYSETS, json={"id": "a"})
    client.get(KEYSETS + "?$top=1&$select=id")
    create, listing = mockgraph(app).journal.entries()
    assert (create.operation, create.status, create.method) == ("createKeySet", 201, "POST")
    assert create.response_body["id"] == "B2C_1A_a"
    assert create.response_headers["Location"] == "/trustFramework/keySets('B2C_1A_a')"
    assert create.violations == []
    assert listing.query == {"$top": ["1"], "$select": ["id"]}
    assert listing.duration_ms >= 0
    assert create.seq < listing.seq and create.time <= listing.time


def test_a_refused_request_is_journaled_with_its_error(client: FlaskClient, app: Flask) -> None:
    client.post(KEYSETS, json={"id": "a", "unknown": 1})
    (refused,) = mockgraph(app).journal.entries()
    assert refused.status == 400
    assert refused.response_body["error"]["code"] == "invalidRequest"


def test_tokens_and_secret_members_are_redacted(client: FlaskClient, app: Flask) -> None:
    client.post(KEYSETS, json={"id": "a"})
    client.post(KEYSETS + "/B2C_1A_a/uploadSecret", json={"use": "sig", "k": "s3cr3t-value"})
    client.post(
        KEYSETS + "/B2C_1A_a/uploadPkcs12", json={"key": "cGZ4LWJ5dGVz", "password": "pa55word"}
    )
    entries = mockgraph(app).journal.entries()
    assert all(e.headers["Authorization"] == f"Bearer {REDACTED}" for e in entries)
    assert entries[1].body == {"use": "sig", "k": REDACTED}
    assert entries[2].body == {"key": REDACTED, "password": REDACTED}
    text = json.dumps([e.to_json() for e in entries])
    for secret in ("journal-token", "s3cr3t-value", "cGZ4LWJ5dGVz", "pa55word"):
        assert secret not in text


def test_a_contract_violation_of_the_mock_is_journaled(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = mockgraph(app).contracts["createKeySet"]

    def broken(self: Any, body: Any, **_: Any) -> list[str]:
        return ["keys: is required"]

    monkeypatch.setattr(type(contract), "response_violations", broken)
    client.post(KEYSETS, json={"id": "a"})
    (created,) = mockgraph(app).journal.entries()
    assert created.violations == ["keys: is required"]


# -- recording is cheap: raw facts kept, the Entry built once when read (issue 6) -------------


def exchange(
    status: int = 200,
    data: bytes | None = None,
    response_data: bytes | None = None,
    response_body: Any = None,
) -> Exchange:
    return Exchange(
        time=0.0, monotonic=0.0, elapsed=0.0, method="GET", path="/", query_string=b"",
        environ={}, data=data, status=status, response_headers=[], response_body=response_body,
        response_data=response_data, endpoint=None, violations=None, fault=None,
    )  # fmt: skip


def weighing(nbytes: int) -> Exchange:
    """An exchange whose bodies weigh ``nbytes``: a request of 10 bytes, the answer the rest."""
    return exchange(data=b"r" * 10, response_data=b"a" * (nbytes - 10))


def test_nothing_is_decoded_or_redacted_until_the_journal_is_read(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("decode_body", "redact_body", "redact_headers", "parse_query"):
        real = getattr(journal, name)
        monkeypatch.setattr(
            journal, name, lambda *a, _n=name, _f=real, **k: calls.append(_n) or _f(*a, **k)
        )
    client.post(KEYSETS, json={"id": "a"})
    client.post(KEYSETS, json={"id": "a"})  # refused: its answer is decoded from its bytes
    client.get(KEYSETS + "?$top=1")
    assert calls == []
    created, refused, listed = mockgraph(app).journal.entries()
    assert calls
    assert created.body == {"id": "a"} and refused.response_body["error"]["code"]
    assert listed.query == {"$top": ["1"]}


def test_each_exchange_becomes_an_entry_once(client: FlaskClient, app: Flask) -> None:
    client.post(KEYSETS, json={"id": "a"})
    client.get(KEYSETS + "/B2C_1A_a")
    first = mockgraph(app).journal.entries()
    again = mockgraph(app).journal.entries()
    assert len(first) == 2 and all(a is b for a, b in zip(first, again, strict=True))


def test_headers_are_the_requests_and_the_answers_as_sent_redacted(
    client: FlaskClient, app: Flask
) -> None:
    client.post(
        KEYSETS,
        data=json.dumps({"id": "a"}),
        headers={
            "Content-Type": "application/json",
            "X-Trace": "t-1",
            "Proxy-Authorization": "Basic dXNlcg==",
        },
    )
    (created,) = mockgraph(app).journal.entries()
    assert created.headers["Content-Type"] == "application/json"
    assert created.headers["Content-Length"] == str(len(json.dumps({"id": "a"})))
    assert created.headers["X-Trace"] == "t-1"
    assert created.headers["Proxy-Authorization"] == f"Basic {REDACTED}"
    assert created.headers["Authorization"] == f"Bearer {REDACTED}"
    assert created.response_headers["request-id"]
    assert created.response_headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"$top=1&$select=id",
        b"a=1&a=2&b",
        b"q=a+b&r=%20%zz&s=%C3%A9",
        b"u=%ff",
        b"=&&x==y",
    ],
)
def test_the_query_is_parsed_as_flask_parses_it(query: bytes) -> None:
    environ = EnvironBuilder().get_environ()
    environ["QUERY_STRING"] = query.decode("latin1")
    args = Request(environ).args
    assert parse_query(query) == {name: args.getlist(name) for name in args}


def test_raw_bytes_that_are_not_utf8_in_the_query_are_kept_percent_encoded() -> None:
    # Flask's request.args raises UnicodeDecodeError here; the journal must still be readable.
    assert parse_query(b"t=\xff\xfe&u=%ff") == {"t": ["%FF%FE"], "u": ["%FF"]}


def test_a_body_the_app_did_not_read_is_journaled_and_one_over_the_limit_is_not(
    contracts: Contracts,
) -> None:
    app = create_app(Config(max_body_bytes=64), contracts=contracts)
    client = app.test_client()  # no token: refused before the body is read
    client.post(KEYSETS, json={"id": "a"})
    client.post(KEYSETS, json={"id": "a" * 100}, headers={"Authorization": "Bearer t"})
    refused, too_large = mockgraph(app).journal.entries()
    assert (refused.status, refused.body) == (401, {"id": "a"})
    assert (too_large.status, too_large.body) == (413, None)


def test_the_journal_keeps_no_request_alive(client: FlaskClient, app: Flask) -> None:
    seen: list[weakref.ref[Request]] = []

    @app.before_request
    def _remember() -> None:
        seen.append(weakref.ref(request._get_current_object()))  # type: ignore[attr-defined]

    client.post(KEYSETS, json={"id": "a"})
    client.get("/")  # the test client keeps the last request's context until the next one
    gc.collect()
    assert seen[0]() is None
    assert len(mockgraph(app).journal) == 2


def test_size_zero_records_nothing_through_the_app(contracts: Contracts) -> None:
    app = create_app(Config(journal_size=0), contracts=contracts)
    client_of(app).post(KEYSETS, json={"id": "a"})
    assert mockgraph(app).journal.entries() == []


def test_concurrent_recording_stays_bounded_and_in_sequence_order() -> None:
    ring = Journal(50)

    def record() -> None:
        for _ in range(200):
            ring.record(exchange())

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = [e.seq for e in ring]
    assert seqs == list(range(751, 801))


def test_an_exchange_shows_no_secret_in_its_repr() -> None:
    raw = exchange()
    raw.environ["HTTP_AUTHORIZATION"] = "Bearer s3cr3t"
    raw.data = b'{"k": "s3cr3t"}'
    assert "s3cr3t" not in repr(raw)


def test_a_journaled_answer_keeps_its_bytes_not_the_rendered_objects(
    client: FlaskClient, app: Flask
) -> None:
    # A rendered page of 100 key sets is hundreds of objects the cyclic garbage collector
    # would walk in every full collection while the journal keeps them; bytes are none.
    import gc

    for i in range(100):
        client.post(
            "/beta/trustFramework/keySets",
            data=json.dumps({"id": f"gc{i:03}", "keys": [{"kid": "a", "kty": "RSA", "n": "bg"}]}),
            content_type="application/json",
        )
    client.get("/beta/trustFramework/keySets?$top=100")  # warm
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20):
        assert client.get("/beta/trustFramework/keySets?$top=100").status_code == 200
    gc.collect()
    per_answer = (len(gc.get_objects()) - before) / 20
    assert per_answer < 40, per_answer
    # ... and the journal still shows the page, decoded when read.
    last = mockgraph(app).journal.entries()[-1]
    assert len(last.response_body["value"]) == 100


# -- bounded by body bytes too: pages of large answers cannot fill memory ----------------------


def test_the_oldest_exchanges_leave_when_the_bodies_pass_the_byte_budget() -> None:
    ring = Journal(10, max_bytes=100)
    for _ in range(4):
        ring.record(weighing(40))
    assert [e.seq for e in ring] == [3, 4]
    assert ring.body_bytes == 80


def test_an_exchange_exactly_at_the_budget_stays() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(weighing(60))
    ring.record(weighing(40))
    assert [e.seq for e in ring] == [1, 2]


def test_the_newest_exchange_is_kept_even_when_it_alone_is_over_the_budget() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(weighing(30))
    ring.record(weighing(500))
    assert [e.seq for e in ring] == [2]
    assert ring.body_bytes == 500
    ring.record(weighing(20))
    assert [e.seq for e in ring] == [3]
    assert ring.body_bytes == 20


def test_the_count_bound_still_applies_under_the_byte_budget_and_frees_its_bytes() -> None:
    ring = Journal(2, max_bytes=100)
    for _ in range(3):
        ring.record(weighing(30))
    assert [e.seq for e in ring] == [2, 3]
    assert ring.body_bytes == 60


def test_a_non_json_body_weighs_its_length_and_any_other_object_nothing() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(exchange(response_body=b"b" * 60))
    ring.record(exchange(response_body={"value": ["x" * 60]}))
    assert ring.body_bytes == 60
    ring.record(exchange(response_body="s" * 60))
    assert [e.seq for e in ring] == [2, 3]
    assert ring.body_bytes == 60


def test_clear_resets_the_byte_budget() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(weighing(60))
    ring.clear()
    assert ring.body_bytes == 0
    ring.record(weighing(60))
    ring.record(weighing(40))
    assert [e.seq for e in ring] == [2, 3]


def test_ready_entries_weigh_nothing() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(weighing(100))
    ring.add(entry(ring.next_seq()))
    assert [e.seq for e in ring] == [1, 2]
    assert ring.body_bytes == 100


def test_without_max_bytes_only_the_count_bounds_the_ring() -> None:
    ring = Journal(3)
    for _ in range(4):
        ring.record(weighing(10**9))
    assert [e.seq for e in ring] == [2, 3, 4]


def test_concurrent_recording_stays_within_the_byte_budget_and_in_sequence_order() -> None:
    ring = Journal(1000, max_bytes=400)

    def record() -> None:
        for _ in range(200):
            ring.record(weighing(40))

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.seq for e in ring] == list(range(791, 801))
    assert ring.body_bytes == 400


def test_journal_bytes_bounds_what_the_app_keeps(contracts: Contracts) -> None:
    def create(name: str, client: FlaskClient) -> int:
        sent = json.dumps({"id": name}).encode()
        answer = client.post(KEYSETS, data=sent, content_type="application/json")
        assert answer.status_code == 201
        return len(sent) + len(answer.data)

    weight = create("w", client_of(create_app(Config(), contracts=contracts)))
    app = create_app(Config(journal_bytes=2 * weight + weight // 2), contracts=contracts)
    client = client_of(app)
    assert [create(name, client) for name in ("a", "b", "c", "d")] == [weight] * 4
    kept = mockgraph(app).journal.entries()
    assert [e.body for e in kept] == [{"id": "c"}, {"id": "d"}]
    assert [e.seq for e in kept] == [3, 4]


def test_journal_bytes_is_read_from_the_environment(contracts: Contracts) -> None:
    assert Config().journal_bytes == 8 * 1024 * 1024
    config = Config.from_env({"MOCKGRAPH_JOURNAL_BYTES": "4096"})
    assert config.journal_bytes == 4096
    assert journal_of(mockgraph(create_app(config, contracts=contracts))).max_bytes == 4096
