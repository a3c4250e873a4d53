"""Twins of the README's "Testing with mockgraph" snippets: a test against ``mockgraph_server``
in five lines, the config override with the ``mockgraph_state`` marker (``keysets.json`` beside
this file), and the server without pytest."""

from pathlib import Path

import pytest
import requests

from mockgraph import Config, MockGraphServer


def test_create_a_key_set(mockgraph_server):
    url = mockgraph_server.url + "/trustFramework/keySets"
    r = requests.post(url, json={"id": "signing"}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 201 and r.json()["id"] == "B2C_1A_signing"
    assert mockgraph_server.requests[-1].operation == "createKeySet"


@pytest.fixture
def mockgraph_config():  # here for this module; in a conftest.py for a folder
    return Config(clock=1_900_000_000)  # 2030-03-17; faults, limits, strictness: see Config


@pytest.mark.mockgraph_state("keysets.json")  # a state file beside this test file
def test_the_active_key_at_that_time(mockgraph_server):
    url = mockgraph_server.url + "/trustFramework/keySets/B2C_1A_signing/getActiveKey"
    r = requests.get(url, headers={"Authorization": "Bearer x"})
    assert r.json()["kid"] == "2030"


def test_without_pytest_fixtures(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)  # the README runs it beside keysets.json
    # The README's snippet:
    with MockGraphServer() as server:  # 127.0.0.1, a free port, a thread of this process
        server.seed("keysets.json")  # or KeySet objects, or a {"keySets": [...]} document
        url = server.url + "/trustFramework/keySets"
        r = requests.get(url, headers={"Authorization": "Bearer x"})
        assert [k["id"] for k in r.json()["value"]] == ["B2C_1A_signing"]
        assert server.requests[0].status == 200
