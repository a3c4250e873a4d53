"""The first request step, through the app: what no part of the mock answers is refused with a
Graph error before routing (foreign hosts, URLs that are not UTF-8, bad request ids, bodies
over the limit)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.http.intake import HostPolicy, host_name, is_loopback

URL = "/beta/trustFramework/keySets"
FOREIGN_HOST = "The Host header names a host this server does not answer for."


def graph_error(answer: Any, status: int, code: str = "invalidRequest") -> str:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["code"] == code
    assert error["innerError"]["request-id"] == answer.headers["request-id"]
    return str(error["message"])


def client_of(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-token"
    return client


# -- Host ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8000", "10.0.0.1", "[::2]:80", "0.0.0.0", "localhost.evil"]
    + ["[::1].evil.example", "[::1]x", "localhost@evil.example"],
)
def test_a_foreign_host_is_refused_before_anything_is_done(client: FlaskClient, host: str) -> None:
    answer = client.post(URL, json={"id": "a"}, headers={"Host": host})
    assert graph_error(answer, 400) == FOREIGN_HOST
    assert client.get(URL).get_json()["value"] == []


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST:8000", "api.localhost", "127.0.0.1:5000", "127.8.9.10", "[::1]:8000"]
    + ["localhost.localdomain", "ip6-localhost"],
)
def test_loopback_names_and_addresses_are_answered(client: FlaskClient, host: str) -> None:
    assert client.get(URL, headers={"Host": host}).status_code == 200


def test_the_configured_host_and_allowed_hosts_are_answered(contracts: Contracts) -> None:
    config = Config(host="mock.internal", allowed_hosts=("Other.Name",))
    client = client_of(create_app(config, contracts=contracts))
    for host in ("mock.internal:8000", "other.name", "localhost"):
        assert client.get(URL, headers={"Host": host}).status_code == 200, host
    assert graph_error(client.get(URL, headers={"Host": "third.name"}), 400) == FOREIGN_HOST


def test_allow_remote_answers_any_host(contracts: Contracts) -> None:
    client = client_of(create_app(Config(allow_remote=True), contracts=contracts))
    answer = client.get(URL, headers={"Host": "mock.example.com:443"})
    assert answer.status_code == 200
    assert answer.get_json()["@odata.context"].startswith("http://mock.example.com:443/beta/")


def test_host_policy_and_host_names() -> None:
    assert host_name("example.com:8000") == "example.com"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("::1") == "::1"
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and is_loopback("a.localhost.")
    assert not is_loopback("localhost.example") and not is_loopback("128.0.0.1")
    assert not HostPolicy(()).allows(None)
    assert HostPolicy(None).allows(None)


# -- URL and query string --------------------------------------------------------------------


def test_a_path_that_is_not_utf_8_is_refused(client: FlaskClient) -> None:
    # A server hands PATH_INFO over as latin-1 text of the raw bytes: b"\xff" here.
    answer = client.get(URL, environ_overrides={"PATH_INFO": URL + "/B2C_1A_\xff"})
    assert graph_error(answer, 400) == "The request URL is not valid UTF-8."


def test_a_utf_8_path_is_routed(client: FlaskClient) -> None:
    path = URL + "/B2C_1A_\xc3\xa5"  # "å" as a server hands its UTF-8 bytes over
    answer = client.get(URL, environ_overrides={"PATH_INFO": path})
    assert graph_error(answer, 404, "itemNotFound") == "Key set 'B2C_1A_å' was not found."


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("$top=%FF", "$top"),
        ("$filter=id%20eq%20%27%C3%27", "$filter"),
        ("custom=%E9t%E9", "custom"),
        ("%FF=1", "%FF"),
        ("$top=1&$select=\xff", "$select"),  # raw bytes, as latin-1 text
    ],
)
def test_a_query_option_that_is_not_utf_8_is_refused_by_name(
    client: FlaskClient, query: str, option: str
) -> None:
    answer = client.get(URL, environ_overrides={"QUERY_STRING": query})
    assert graph_error(answer, 400) == f"The query option '{option}' is not valid UTF-8."


def test_utf_8_query_options_are_read(client: FlaskClient) -> None:
    client.post(URL, json={"id": "a"})
    answer = client.get(URL, environ_overrides={"QUERY_STRING": "custom=%C3%A5&$top=1"})
    assert answer.status_code == 200
    assert [k["id"] for k in answer.get_json()["value"]] == ["B2C_1A_a"]


# -- client-request-id -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["caf\u00e9", "a\tb", "a\x7fb", "\u2028"])
def test_a_client_request_id_that_is_not_printable_ascii_is_refused(
    client: FlaskClient, value: str
) -> None:
    answer = client.get(URL, headers={"client-request-id": value})
    message = graph_error(answer, 400)
    assert message == "The header 'client-request-id' must be printable ASCII text."
    assert answer.headers["client-request-id"] == answer.headers["request-id"]


def test_a_printable_client_request_id_is_echoed(client: FlaskClient) -> None:
    value = "Abc-123 {x}/~"
    assert (
        client.get(URL, headers={"client-request-id": value}).headers["client-request-id"] == value
    )


# -- body size -------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    contracts: Contracts,
) -> None:
    client = client_of(create_app(Config(max_body_bytes=100), contracts=contracts))
    answer = client.post(
        URL,
        data=b'{"id": "a"}',
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": "101"},
    )
    assert graph_error(answer, 413) == "The request body is larger than 100 bytes."
    assert client.get(URL).get_json()["value"] == []
    body = b'{"id": "a"}'.ljust(100)
    assert client.post(URL, data=body, content_type="application/json").status_code == 201
