"""Injected faults: the rule language and its errors, the counters, the header, the Graph error
answers with ``Retry-After``, the journal record, and the Retry-After check."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.cli import main
from mockgraph.features.faults import (
    FAULT_HEADER,
    Action,
    FaultRuleError,
    Faults,
    assert_retry_after_respected,
    parse_action,
    parse_rule,
    waited_for_retry_after,
)
from mockgraph.features.journal import Entry
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.state import MockGraph, mockgraph

URL = "/beta/trustFramework/keySets"
OPERATIONS = ("createKeySet", "generateKey", "getKeySet", "listKeySets")
TOKEN = {"Authorization": "Bearer test-token"}


def app_with(contracts: Contracts, *rules: str) -> Flask:
    return create_app(Config(faults=rules), contracts=contracts)


def create(client: FlaskClient, name: str, **headers: str) -> Any:
    return client.post(
        URL, data=json.dumps({"id": name}), content_type="application/json", headers=headers
    )


def generate(client: FlaskClient, keyset: str) -> Any:
    body = json.dumps({"use": "sig", "kty": "oct"})
    return client.post(f"{URL}/{keyset}/generateKey", data=body, content_type="application/json")


def assert_error(response: Any, status: int, code: str, message_part: str = "") -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert message_part in error["message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]


# -- the rule language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target", "every", "first", "action"),
    [
        ("every 3rd write -> 429 retry-after=2", "writes", 3, None, Action(429, 2)),
        ("next 2 generateKey -> 503", "generateKey", None, 2, Action(503, 1)),
        ("all -> delay 200ms", "all", None, None, Action(delay_ms=200)),
        ("every 2 READS -> 503 retry-after=none", "reads", 2, None, Action(503, None)),
        ("next 1st GENERATEKEY -> Retry-After: 5; 429", "generateKey", None, 1, Action(429, 5)),
        ("write -> delay 1.5s, 503, delay 10ms", "writes", None, None, Action(503, 1, 1510)),
        ("all -> delay 61s", "all", None, None, Action(delay_ms=60_000)),
        ("all -> delay 50s delay 50s", "all", None, None, Action(delay_ms=60_000)),
    ],
)
def test_rules_parse_into_target_count_and_action(
    text: str, target: str, every: int | None, first: int | None, action: Action
) -> None:
    rule = parse_rule(text, OPERATIONS)
    assert (rule.target, rule.every, rule.first, rule.action) == (target, every, first, action)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every 3rd write 429", "a rule is 'SELECTOR -> ACTION'"),
        ("every write -> 429", "'every' takes a count of 1 or more"),
        ("next 0 all -> 503", "'next' takes a count of 1 or more"),
        ("uploadThing -> 503", "unknown target 'uploadThing'; expected one of: all, reads"),
        ("all writes -> 503", "the selector names one target"),
        ("all ->", "the action is empty"),
        ("all -> 500", "status 500 cannot be injected; use 429 or 503"),
        ("all -> 429 503", "at most one status"),
        ("all -> retry-after=2", "retry-after needs a status"),
        ("all -> 429 retry-after=soon", "retry-after takes whole seconds"),
        ("all -> 429 retry-after=1.5", "retry-after takes whole seconds"),
        ("all -> 429 retry-after=-1", "retry-after takes whole seconds"),
        ("all -> delay 200", "delay takes a duration with its unit"),
        ("all -> 429 please", "unknown word 'please' in the action"),
        ("all -> \u0664\u0662\u0669", "unknown word"),  # Arabic-Indic digits are no status
        ("all -> \u00b2", "unknown word"),
        ("next " + "9" * 5000 + " all -> 503", "'next' takes a count of 1 or more"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FaultRuleError, match=message.replace("(", r"\(")):
        parse_rule(text, OPERATIONS)


def test_unknown_target_lists_the_operations_it_knows() -> None:
    with pytest.raises(FaultRuleError) as caught:
        parse_rule("generateKeys -> 503", OPERATIONS)
    assert "createKeySet, generateKey, getKeySet, listKeySets" in str(caught.value)


def test_bad_configured_rule_stops_the_app_from_starting(contracts: Contracts) -> None:
    with pytest.raises(StartupError, match="bad fault rule 'sometimes -> 429'"):
        app_with(contracts, "sometimes -> 429")


def test_a_configured_fractional_retry_after_stops_the_app_from_starting(
    contracts: Contracts,
) -> None:
    with pytest.raises(StartupError, match="retry-after takes whole seconds"):
        app_with(contracts, "all -> 429 retry-after=1.5")


def test_serve_refuses_a_bad_fault_rule_before_binding() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--fault", "all -> 404"])
    assert result.exit_code == 1
    assert "status 404 cannot be injected" in result.output


# -- faults through the app -----------------------------------------------------------------


def test_readme_every_third_write_is_throttled(contracts: Contracts) -> None:
    app = create_app(Config(faults=("every 3rd write -> 429 retry-after=2",)), contracts=contracts)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-token"
    statuses = [create(client, f"ks{i}").status_code for i in range(6)]
    assert statuses == [201, 201, 429, 201, 201, 429]
    assert client.get("/beta/trustFramework/keySets").status_code == 200  # reads: not counted


def test_throttled_answer_is_graphs_with_retry_after_and_changes_nothing(
    contracts: Contracts,
) -> None:
    app = app_with(contracts, "every 2nd write -> 429 retry-after=2")
    store = mockgraph(app).stores["keySets"]
    with app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN["Authorization"]
        assert create(client, "a").status_code == 201
        throttled = create(client, "b")
    assert_error(throttled, 429, "TooManyRequests", "Please retry again later.")
    assert "every 2nd write -> 429 retry-after=2" in throttled.get_json()["error"]["message"]
    assert throttled.headers["Retry-After"] == "2"
    assert [k.id for k in store] == ["B2C_1A_a"]


def test_next_two_generate_key_requests_fail_then_never_until_reset(contracts: Contracts) -> None:
    app = app_with(contracts, "next 2 generateKey -> 503")
    with app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN["Authorization"]
        create(client, "k")
        first, second = generate(client, "B2C_1A_k"), generate(client, "B2C_1A_k")
        assert_error(first, 503, "serviceNotAvailable")
        assert second.status_code == 503
        assert first.headers["Retry-After"] == "1"
        assert [generate(client, "B2C_1A_k").status_code for _ in range(3)] == [200] * 3
        mockgraph(app).faults.reset()
        assert generate(client, "B2C_1A_k").status_code == 503
    assert len(mockgraph(app).stores["keySets"].get("B2C_1A_k").keys) == 3


def test_retry_after_none_sends_no_header(contracts: Contracts) -> None:
    with app_with(contracts, "reads -> 503 retry-after=none").test_client() as client:
        response = client.get(URL, headers=TOKEN)
    assert response.status_code == 503
    assert "Retry-After" not in response.headers


def test_delay_waits_before_answering(contracts: Contracts) -> None:
    app = app_with(contracts, "all -> delay 200ms", "reads -> delay 50ms")
    slept: list[float] = []
    mockgraph(app).faults.sleep = slept.append
    with app.test_client() as client:
        assert client.get(URL, headers=TOKEN).status_code == 200
        assert create(client, "a", **TOKEN).status_code == 201
    assert slept == [0.25, 0.2]


def test_header_faults_one_request_only(client: FlaskClient) -> None:
    faulted = create(client, "a", **{FAULT_HEADER: "429; retry-after=2"})
    assert_error(faulted, 429, "TooManyRequests", FAULT_HEADER)
    assert faulted.headers["Retry-After"] == "2"
    assert create(client, "a").status_code == 201


def test_header_status_wins_over_a_rules(contracts: Contracts) -> None:
    with app_with(contracts, "all -> 503").test_client() as client:
        response = create(client, "a", **TOKEN, **{FAULT_HEADER: "429 retry-after=5"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize("action", ["429", "503 retry-after=7", "429 retry-after=0"])
def test_retry_after_is_sent_in_whole_seconds(client: FlaskClient, action: str) -> None:
    response = client.get(URL, headers={FAULT_HEADER: action})
    assert response.status_code in (429, 503)
    assert re.fullmatch(r"[0-9]+", response.headers["Retry-After"])


def test_a_fractional_retry_after_header_is_400_and_changes_nothing(
    client: FlaskClient, state: MockGraph
) -> None:
    response = create(client, "a", **{FAULT_HEADER: "429 retry-after=1.5"})
    assert_error(response, 400, "invalidRequest", "retry-after takes whole seconds")
    assert "Retry-After" not in response.headers
    assert len(state.stores["keySets"]) == 0


@pytest.mark.parametrize("value", ["418", "\u00b2", "9" * 5000])
def test_bad_header_is_400_and_changes_nothing(
    client: FlaskClient, state: MockGraph, value: str
) -> None:
    # WSGI hands header bytes over as latin-1 text: "\u00b2" is the byte a client sent.
    response = client.post(
        URL, json={"id": "a"}, environ_overrides={"HTTP_X_MOCKGRAPH_FAULT": value}
    )
    assert_error(response, 400, "invalidRequest", f"The {FAULT_HEADER} header is invalid")
    assert len(state.stores["keySets"]) == 0


def test_unauthenticated_requests_are_not_counted(contracts: Contracts) -> None:
    with app_with(contracts, "next 1 all -> 503").test_client() as client:
        assert client.get(URL).status_code == 401
        assert client.get(URL, headers=TOKEN).status_code == 503


def test_journal_records_each_injected_fault(contracts: Contracts) -> None:
    app = app_with(contracts, "next 1 createKeySet -> 429 retry-after=3")
    with app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN["Authorization"]
        create(client, "a")
        create(client, "a")
    faulted, passed = mockgraph(app).journal.entries()
    assert faulted.fault == {
        "status": 429,
        "retry_after": 3,
        "rule": "next 1 createKeySet -> 429 retry-after=3",
        "delay_ms": 0.0,
    }
    assert (faulted.status, passed.status, passed.fault) == (429, 201, None)


def test_counters_are_exact_under_concurrent_requests() -> None:
    faults = Faults([parse_rule("every 3rd all -> 429", OPERATIONS)])
    hits: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            hit = faults.decide("getKeySet", "GET") is not None
            with lock:
                hits.append(hit)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(hits), hits.count(True)) == (300, 100)


def test_header_action_parses_like_a_rules_action() -> None:
    assert parse_action("429; Retry-After: 2") == Action(429, 2)
    assert parse_action("delay=20ms") == Action(delay_ms=20)


# -- did the client wait? -------------------------------------------------------------------


def entry(seq: int, at: float, path: str, fault: dict[str, Any] | None, ms: float = 0) -> Entry:
    return Entry(
        seq=seq, time=0, monotonic=at, method="POST", path=path, query={}, headers={},
        body=None, status=429 if fault else 201, response_headers={}, response_body=None,
        operation="createKeySet", duration_ms=ms, fault=fault,
    )  # fmt: skip


def test_retry_wait_is_measured_from_the_faulted_answer_to_the_next_same_request() -> None:
    fault = {"status": 429, "retry_after": 2, "rule": "r", "delay_ms": 0}
    entries = [
        entry(1, 10.0, URL, fault, ms=500),
        entry(2, 10.6, "/other", None),
        entry(3, 12.6, URL, None),
        entry(4, 20.0, URL, fault),
        entry(5, 21.0, URL, None),
        entry(6, 30.0, URL, fault),
    ]
    waits = waited_for_retry_after(reversed(entries))
    assert [(w.fault.seq, w.retry and w.retry.seq, w.waited) for w in waits] == [
        (1, 3, pytest.approx(2.1)),
        (4, 5, pytest.approx(1.0)),
        (6, None, None),
    ]
    assert [w.respected for w in waits] == [True, False, True]
    with pytest.raises(AssertionError, match=f"POST {URL}: retried after 1.000s, Retry-After"):
        assert_retry_after_respected(entries)


def test_delay_only_faults_and_tolerance() -> None:
    delay = {"status": None, "retry_after": None, "rule": "all -> delay 1ms", "delay_ms": 1}
    fault = {"status": 503, "retry_after": 1, "rule": "r", "delay_ms": 0}
    assert waited_for_retry_after([entry(1, 0.0, URL, delay), entry(2, 0.1, URL, None)]) == []
    early = [entry(1, 0.0, URL, fault), entry(2, 0.99, URL, None)]
    assert_retry_after_respected(early, tolerance=0.02)
    with pytest.raises(AssertionError):
        assert_retry_after_respected(early)


@pytest.mark.slow  # waits out a real Retry-After of one second
def test_readme_a_client_that_honours_retry_after_passes(contracts: Contracts) -> None:
    app = create_app(
        Config(faults=("next 1 createKeySet -> 429 retry-after=1",)), contracts=contracts
    )
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-token"
    response = create(client, "a")
    assert response.status_code == 429  # the throttling this test is about really happened
    while response.status_code == 429:
        time.sleep(float(response.headers["Retry-After"]))
        response = create(client, "a")
    assert response.status_code == 201
    entries = mockgraph(app).journal.entries()
    (wait,) = waited_for_retry_after(entries)
    assert (wait.fault.status, wait.retry_after, wait.retry) == (429, 1.0, entries[1])
    assert_retry_after_respected(entries)


def test_delays_of_batch_items_add_up_in_one_wait_for_the_batch(contracts: Contracts) -> None:
    app = app_with(contracts, "listKeySets -> delay 200ms", "all -> delay 100ms")
    slept: list[float] = []
    mockgraph(app).faults.sleep = slept.append
    items = [{"id": str(n), "method": "GET", "url": "/trustFramework/keySets"} for n in range(3)]
    with app.test_client() as client:
        response = client.post("/beta/$batch", json={"requests": items}, headers=TOKEN)
    assert [a["status"] for a in response.get_json()["responses"]] == [200, 200, 200]
    assert slept == [pytest.approx(0.9)]


def test_the_delays_of_a_batch_are_capped_at_sixty_seconds_in_all(contracts: Contracts) -> None:
    app = app_with(contracts, "all -> delay 25s")
    slept: list[float] = []
    mockgraph(app).faults.sleep = slept.append
    items = [{"id": str(n), "method": "GET", "url": "/trustFramework/keySets"} for n in range(3)]
    with app.test_client() as client:
        assert (
            client.post("/beta/$batch", json={"requests": items}, headers=TOKEN).status_code == 200
        )
        assert client.get(URL, headers={**TOKEN, FAULT_HEADER: "delay 61s"}).status_code == 200
    assert slept == [60.0, 60.0]


def test_a_client_that_retries_at_once_is_caught(contracts: Contracts) -> None:
    app = app_with(contracts, "next 1 createKeySet -> 429 retry-after=30")
    with app.test_client() as client:
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN["Authorization"]
        create(client, "a")
        create(client, "a")
    with pytest.raises(AssertionError, match="client ignored Retry-After"):
        assert_retry_after_respected(mockgraph(app).journal.entries())
