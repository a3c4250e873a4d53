"""The app factory's own per-request work: request ids and the headers every answer carries."""

from __future__ import annotations

import random
import uuid

import flask
import pytest
from flask.sessions import NullSession
from flask.testing import FlaskClient

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
