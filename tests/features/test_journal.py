"""The request journal: a ring bounded by count (``Config.journal_size``) and by the bytes it keeps
of each exchange (``Config.journal_bytes``: request line and query, headers, both bodies), every
exchange with its operation, status and contract violations, secrets and tokens redacted."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from typing import Any

import pytest
from flask import Flask, Request, request
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.journal import Entry, Exchange, Journal
from mockgraph.features.redact import REDACTED
from mockgraph.http.contracts import Contracts
from mockgraph.state import mockgraph

KEYSETS = "/beta/trustFramework/keySets"
MIB = 1024 * 1024


def exchange(data: bytes | None = None, response_data: bytes | None = None) -> Exchange:
    return Exchange(
        time=0.0, monotonic=0.0, elapsed=0.0, method="GET", path="/", query_string=b"",
        headers={}, data=data, status=200, response_headers=(), response_data=response_data,
        operation=None, secrets=frozenset(), violations=(), fault=None,
    )  # fmt: skip


def weighing(nbytes: int) -> Exchange:
    """An exchange that weighs ``nbytes``: ``GET /``, a request body of 10 bytes, the answer
    the rest."""
    return exchange(data=b"r" * 10, response_data=b"a" * (nbytes - 10 - len("GET/")))


def client_of(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer journal-token"
    return client


def test_the_ring_keeps_only_the_newest_entries() -> None:
    journal = Journal(3)
    for _ in range(5):
        journal.record(exchange())
    assert [e.seq for e in journal] == [3, 4, 5]
    assert len(journal) == 3


def test_size_zero_keeps_nothing() -> None:
    journal = Journal(0)
    journal.record(exchange())
    assert journal.entries() == []


def test_clear_empties_it_but_sequence_numbers_go_on() -> None:
    journal = Journal(5)
    journal.record(exchange())
    journal.clear()
    assert len(journal) == 0
    journal.record(exchange())
    assert [e.seq for e in journal] == [2]


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
    assert create.violations == [] and create.error_code is None
    assert listing.query == {"$top": ["1"], "$select": ["id"]}
    assert listing.duration_ms >= 0
    assert create.seq < listing.seq and create.time <= listing.time


def test_a_refused_request_is_journaled_with_its_error_code(
    client: FlaskClient, app: Flask
) -> None:
    client.post(KEYSETS, json={"id": "a", "unknown": 1})
    (refused,) = mockgraph(app).journal.entries()
    assert refused.status == 400
    assert refused.error_code == "invalidRequest"
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

    def broken(self: Any, body: Any) -> list[tuple[str, str]]:
        return [("keys", "The property 'keys' is required.")]

    monkeypatch.setattr(type(contract), "response_problems", broken)
    client.post(KEYSETS, json={"id": "a"})
    (created,) = mockgraph(app).journal.entries()
    assert created.violations == ["The property 'keys' is required."]


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


def test_the_query_is_journaled_as_sent_repeats_and_blanks_included(
    client: FlaskClient, app: Flask
) -> None:
    client.get(KEYSETS + "?$top=1&a=1&a=2&b&q=a+b&s=%C3%A9")
    (listed,) = mockgraph(app).journal.entries()
    assert listed.query == {"$top": ["1"], "a": ["1", "2"], "b": [""], "q": ["a b"], "s": ["é"]}


def test_a_query_that_is_not_utf8_is_refused_and_journaled_readably(
    client: FlaskClient, app: Flask
) -> None:
    assert client.get(KEYSETS + "?u=%ff").status_code == 400
    (refused,) = mockgraph(app).journal.entries()
    assert refused.query == {"u": ["\ufffd"]}
    assert client.get("/_mockgraph/requests").status_code == 200


def test_a_lone_surrogate_in_a_refused_body_never_breaks_the_journal(
    client: FlaskClient, app: Flask
) -> None:
    sent = b'{"id": "a\\ud800b"}'
    answer = client.post(KEYSETS, data=sent, content_type="application/json")
    assert answer.status_code == 400
    listed = client.get("/_mockgraph/requests")
    assert listed.status_code == 200
    (refused,) = listed.get_json()["requests"]
    assert refused["body"] == f"<not recorded: {len(sent)} bytes, not JSON>"
    assert "lone surrogate" in refused["response_body"]["error"]["message"]


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
    raw = exchange(data=b'{"k": "s3cr3t"}')
    raw.headers["HTTP_AUTHORIZATION"] = "Bearer s3cr3t"
    assert "s3cr3t" not in repr(raw)


# -- bounded by bytes too: large answers, headers or queries cannot fill memory ----------------


def test_the_oldest_exchanges_leave_when_they_pass_the_byte_budget() -> None:
    ring = Journal(10, max_bytes=100)
    for _ in range(4):
        ring.record(weighing(40))
    assert [e.seq for e in ring] == [3, 4]
    assert ring.kept_bytes == 80


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
    assert ring.kept_bytes == 500
    ring.record(weighing(20))
    assert [e.seq for e in ring] == [3]
    assert ring.kept_bytes == 20


def test_the_count_bound_still_applies_under_the_byte_budget_and_frees_its_bytes() -> None:
    ring = Journal(2, max_bytes=100)
    for _ in range(3):
        ring.record(weighing(30))
    assert [e.seq for e in ring] == [2, 3]
    assert ring.kept_bytes == 60


def test_clear_resets_the_byte_budget() -> None:
    ring = Journal(10, max_bytes=100)
    ring.record(weighing(60))
    ring.clear()
    assert ring.kept_bytes == 0
    ring.record(weighing(60))
    ring.record(weighing(40))
    assert [e.seq for e in ring] == [2, 3]


def test_without_max_bytes_only_the_count_bounds_the_ring() -> None:
    ring = Journal(3)
    for _ in range(4):
        ring.record(weighing(10**7))
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
    assert ring.kept_bytes == 400


def test_an_exchange_weighs_its_request_line_query_headers_and_both_bodies() -> None:
    raw = exchange(data=b"12345", response_data=b"1234567")
    raw.query_string = b"$top=1"
    raw.headers["HTTP_X_TRACE"] = "abc"
    raw.response_headers = (("request-id", "xyz"),)
    ring = Journal(10)
    ring.record(raw)
    expected = len("GET") + len("/") + len("$top=1") + len("HTTP_X_TRACE" + "abc")
    expected += len("request-id" + "xyz") + 5 + 7
    assert ring.kept_bytes == expected


def kept_text(entries: list[Entry]) -> int:
    """What the entries show of their requests, counted without the journal's own weight."""
    return sum(
        len(e.path)
        + sum(len(k) + len(v) for k, v in e.headers.items())
        + sum(len(k) + sum(len(v) for v in values) for k, values in e.query.items())
        for e in entries
    )


def test_large_headers_count_against_the_byte_budget(contracts: Contracts) -> None:
    app = create_app(Config(journal_bytes=MIB), contracts=contracts)
    client = client_of(app)
    big = "x" * 50_000
    for _ in range(1000):
        client.get(KEYSETS + "/B2C_1A_missing", headers={"X-Big": big})
    entries = mockgraph(app).journal.entries()
    assert len(entries) < MIB // 50_000 + 2
    assert kept_text(entries) <= MIB + 51_000
    assert mockgraph(app).journal.kept_bytes <= MIB + 60_000


def test_a_large_query_counts_against_the_byte_budget(contracts: Contracts) -> None:
    app = create_app(Config(journal_bytes=MIB), contracts=contracts)
    client = client_of(app)
    query = "?x=" + "q" * 50_000
    for _ in range(300):
        client.get(KEYSETS + "/B2C_1A_missing" + query)
    entries = mockgraph(app).journal.entries()
    assert len(entries) < MIB // 50_000 + 2
    assert kept_text(entries) <= MIB + 51_000


def test_journal_bytes_bounds_what_the_app_keeps(contracts: Contracts) -> None:
    def create(name: str, client: FlaskClient) -> None:
        answer = client.post(KEYSETS, json={"id": name})
        assert answer.status_code == 201

    first = create_app(Config(), contracts=contracts)
    create("w", client_of(first))
    weight = mockgraph(first).journal.kept_bytes
    app = create_app(Config(journal_bytes=2 * weight + weight // 2), contracts=contracts)
    client = client_of(app)
    for name in ("a", "b", "c", "d"):
        create(name, client)
    kept = mockgraph(app).journal.entries()
    assert [e.body for e in kept] == [{"id": "c"}, {"id": "d"}]
    assert [e.seq for e in kept] == [3, 4]


def test_journal_bytes_is_read_from_the_environment(contracts: Contracts) -> None:
    assert Config().journal_bytes == 8 * 1024 * 1024
    config = Config.from_env({"MOCKGRAPH_JOURNAL_BYTES": "4096"})
    assert config.journal_bytes == 4096
    assert mockgraph(create_app(config, contracts=contracts)).journal.max_bytes == 4096
