"""Rendering: Graph-shaped answers and the URLs they name."""

from __future__ import annotations

from urllib.parse import unquote

from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from mockgraph.http.codec import decode
from mockgraph.http.rendering import (
    JSON_TYPE,
    context_url,
    entity_location,
    json_response,
    no_content,
    plain_json,
)

URL = "/beta/trustFramework/keySets"


def test_a_json_answer_has_graph_s_content_type_status_and_headers() -> None:
    answer = json_response({"id": "å"}, 201, {"Location": "/x"})
    assert (answer.status_code, answer.headers["Content-Type"]) == (201, JSON_TYPE)
    assert answer.headers["Location"] == "/x"
    assert decode(answer.get_data()) == {"id": "å"}
    assert "odata.metadata=minimal" in JSON_TYPE and "charset=utf-8" in JSON_TYPE


def test_the_mock_s_own_answers_are_plain_json() -> None:
    answer = plain_json({"ok": True}, 202)
    assert (answer.status_code, answer.mimetype) == (202, "application/json")


def test_no_content_has_no_body_and_no_content_type() -> None:
    answer = no_content({"X-Extra": "1"})
    assert answer.status_code == 204
    assert answer.get_data() == b""
    assert "Content-Type" not in answer.headers
    assert answer.headers["X-Extra"] == "1"


def test_the_context_url_is_the_service_root_s_metadata_with_a_fragment() -> None:
    assert (
        context_url("http://h:1/beta", "trustFramework/keySets/$entity")
        == "http://h:1/beta/$metadata#trustFramework/keySets/$entity"
    )


@given(keyset_id=st.from_regex(r"\A[A-Za-z0-9_.\-']{1,40}\Z"))
def test_a_location_is_the_odata_key_form_with_quotes_doubled(keyset_id: str) -> None:
    location = entity_location("/trustFramework/keySets", keyset_id)
    assert location.startswith("/trustFramework/keySets('") and location.endswith("')")
    assert unquote(location[len("/trustFramework/keySets('") : -2]).replace("''", "'") == keyset_id


def test_links_in_answers_lead_back_to_the_host_the_client_addressed(client: FlaskClient) -> None:
    client.post(URL, json={"id": "a"})
    answer = client.get(URL + "?$top=1", headers={"Host": "localhost:8123"})
    assert answer.get_json()["@odata.context"].startswith("http://localhost:8123/beta/$metadata#")
    created = client.post(URL, json={"id": "b"}, headers={"Host": "[::1]:9"})
    assert created.get_json()["@odata.context"].startswith("http://[::1]:9/beta/")
    assert created.headers["Location"] == "/trustFramework/keySets('B2C_1A_b')"
