"""The app factory's own per-request work: request ids and the headers every answer carries."""

from __future__ import annotations

import random
import uuid
from typing import Any

import flask
import pytest
from flask.sessions import NullSession
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from mockgraph import create_app
from mockgraph.app import new_request_id


def test_a_request_id_is_a_version_4_uuid_in_its_canonical_form() -> None:
    for _ in range(2000):
        text = new_request_id()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_a_request_id_is_what_uuid_makes_of_the_same_random_bits() -> None:
    seed = random.getstate()
    try:
        random.seed(7)
        ours = new_request_id()
        random.seed(7)
        theirs = str(uuid.UUID(int=random.getrandbits(128), version=4))
    finally:
        random.setstate(seed)
    assert ours == theirs


def test_every_answer_carries_one_request_id_and_the_client_s_own(client: FlaskClient) -> None:
    answer = client.get("/beta/trustFramework/keySets", headers={"client-request-id": "abc-1"})
    assert answer.headers.getlist("client-request-id") == ["abc-1"]
    assert len(answer.headers.getlist("request-id")) == 1
    missing = client.get("/beta/trustFramework/keySets/B2C_1A_none")
    assert missing.status_code == 404
    assert missing.headers.getlist("request-id") == [
        missing.get_json()["error"]["innerError"]["request-id"]
    ]
    assert missing.headers["client-request-id"] == missing.headers["request-id"]


def test_the_app_keeps_no_sessions_every_request_shares_one_that_refuses_writes(
    client: FlaskClient,
) -> None:
    app = client.application
    seen = []
    for _ in range(2):
        with app.test_request_context("/beta/trustFramework/keySets"):
            seen.append(flask.session._get_current_object())  # type: ignore[attr-defined]
    assert isinstance(seen[0], NullSession)
    assert seen[0] is seen[1]
    with app.test_request_context("/"), pytest.raises(RuntimeError):
        flask.session["user"] = "x"


def test_the_app_serves_no_static_files_a_static_path_is_graph_s_404(
    client: FlaskClient,
) -> None:
    assert all(rule.endpoint != "static" for rule in client.application.url_map.iter_rules())
    answer = client.get("/static/app.js", headers={"Authorization": "Bearer t"})
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "itemNotFound"


def test_url_for_builds_every_route_and_the_url_routes_back_to_it(client: FlaskClient) -> None:
    app = client.application
    adapter = app.url_map.bind("127.0.0.1")
    for rule in app.url_map.iter_rules():
        values = {name: "B2C_1A_x" for name in rule.arguments}
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        for extra in ({}, {"q": "5"}):  # without and with an unknown value (a query)
            url = adapter.build(rule.endpoint, {**values, **extra}, method=method)
            assert adapter.match(url.split("?")[0], method=method) == (rule.endpoint, values)
            assert url.endswith("?q=5") == bool(extra)


def test_url_builders_are_compiled_on_first_use_not_when_the_app_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[str] = []
    real = Rule._compile_builder

    def counting(rule: Rule, append_unknown: bool = True) -> Any:
        compiled.append(rule.rule)
        return real(rule, append_unknown)

    monkeypatch.setattr(Rule, "_compile_builder", counting)
    app = create_app()
    assert compiled == []
    with app.test_request_context():
        flask.url_for("graph.createKeySet")
        flask.url_for("graph.createKeySet")
    assert compiled == ["/beta/trustFramework/keySets"]
