"""The app factory's request path: request ids on every answer, what is no Graph URL, and the
shape of answers without a body."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

URL = "/beta/trustFramework/keySets"


def test_a_request_id_is_a_fresh_version_4_uuid_in_its_canonical_form(client: FlaskClient) -> None:
    seen = set()
    for _ in range(20):
        text = client.get(URL).headers["request-id"]
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
        seen.add(text)
    assert len(seen) == 20


def test_every_answer_carries_one_request_id_and_the_client_s_own(client: FlaskClient) -> None:
    answer = client.get(URL, headers={"client-request-id": "abc-1"})
    assert answer.headers.getlist("client-request-id") == ["abc-1"]
    assert len(answer.headers.getlist("request-id")) == 1
    missing = client.get(URL + "/B2C_1A_none")
    assert missing.status_code == 404
    assert missing.headers.getlist("request-id") == [
        missing.get_json()["error"]["innerError"]["request-id"]
    ]
    assert missing.headers["client-request-id"] == missing.headers["request-id"]


def test_the_app_serves_no_static_files_a_static_path_is_graph_s_404(client: FlaskClient) -> None:
    answer = client.get("/static/app.js")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "itemNotFound"


@pytest.mark.parametrize(
    "path",
    ["//beta/trustFramework/keySets", "/beta//trustFramework/keySets", URL + "/", "///beta"],
)
def test_a_url_with_extra_slashes_is_graph_s_404_not_a_redirect(
    client: FlaskClient, path: str
) -> None:
    # The test client would read "//beta" as a host name: the path is given as a server has it.
    answer = client.get(URL, environ_overrides={"PATH_INFO": path})
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    error = answer.get_json()["error"]
    assert error["code"] == "itemNotFound"
    assert error["message"] == "Resource not found for the segment in the request URL."
    assert error["innerError"]["request-id"] == answer.headers["request-id"]


def test_an_answer_of_204_has_no_body_and_no_content_type(client: FlaskClient) -> None:
    client.post(URL, json={"id": "gone", "keys": [{"kid": "a"}]})
    answers = [
        client.patch(URL + "/B2C_1A_gone/keys_v2/a", json={"status": "disabled"}),
        client.delete(URL + "/B2C_1A_gone"),
    ]
    for answer in answers:
        assert answer.status_code == 204
        assert answer.data == b""
        assert "Content-Type" not in answer.headers
