"""The request journal: a bounded ring (``Config.journal_size``), every exchange with its
operation, status and contract violations, secrets and tokens redacted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.contracts import Contracts
from mockgraph.journal import Entry, Journal, journal_of
from mockgraph.redact import REDACTED
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
    create, listing = journal_of(mockgraph(app)).entries()
    assert (create.operation, create.status, create.method) == ("createKeySet", 201, "POST")
    assert create.response_body["id"] == "B2C_1A_a"
    assert create.response_headers["Location"] == "/trustFramework/keySets('B2C_1A_a')"
    assert create.violations == []
    assert listing.query == {"$top": ["1"], "$select": ["id"]}
    assert listing.duration_ms >= 0
    assert create.seq < listing.seq and create.time <= listing.time


def test_a_refused_request_is_journaled_with_its_error(client: FlaskClient, app: Flask) -> None:
    client.post(KEYSETS, json={"id": "a", "unknown": 1})
    (refused,) = journal_of(mockgraph(app)).entries()
    assert refused.status == 400
    assert refused.response_body["error"]["code"] == "invalidRequest"


def test_tokens_and_secret_members_are_redacted(client: FlaskClient, app: Flask) -> None:
    client.post(KEYSETS, json={"id": "a"})
    client.post(KEYSETS + "/B2C_1A_a/uploadSecret", json={"use": "sig", "k": "s3cr3t-value"})
    client.post(
        KEYSETS + "/B2C_1A_a/uploadPkcs12", json={"key": "cGZ4LWJ5dGVz", "password": "pa55word"}
    )
    entries = journal_of(mockgraph(app)).entries()
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
    (created,) = journal_of(mockgraph(app)).entries()
    assert created.violations == ["keys: is required"]
