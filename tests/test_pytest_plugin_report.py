"""The pytest plugin's report: a failed test that used a mockgraph fixture shows its exchanges
(request line, status, operation, error code, contract verdict, bodies redacted and trimmed);
a passing one shows none; the ini option ``mockgraph_report = false`` turns it off."""

from __future__ import annotations

import re

import pytest
from plugin_runs import HEADER, run, share_contracts

from mockgraph.features.journal import Entry
from mockgraph.http.contracts import Contracts
from mockgraph.pytest_plugin import _exchange

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester: pytest.Pytester, contracts: Contracts) -> pytest.Pytester:
    return share_contracts(pytester, contracts)


SECRET = "c2VjcmV0LXJlcG9ydGVk"  # base64 of "secret-reported"
SECRET_TOKEN = "token-that-must-not-show"

REPORTED = (
    HEADER
    + f"""
SECRET = "{SECRET}"
SECRET_TOKEN = "{SECRET_TOKEN}"

def test_client_fails(mockgraph_client):
    assert mockgraph_client.post("/beta" + KEYSETS, json={{"id": "r"}}).status_code == 201
    upload = "/beta" + KEYSETS + "/B2C_1A_r/uploadSecret"
    mockgraph_client.post(upload, json={{"use": "sig", "k": SECRET, "x": "y" * 900}})
    mockgraph_client.get("/beta" + KEYSETS + "/B2C_1A_missing?$select=id")
    assert False, "the test's own failure"

def test_server_fails(mockgraph_server):
    headers = {{"Authorization": "Bearer " + SECRET_TOKEN}}
    requests.post(mockgraph_server.url + KEYSETS, json={{"id": "s"}}, headers=headers)
    assert False

def test_app_and_server_fail(mockgraph_app, mockgraph_server):
    assert False

def test_passes(mockgraph_client):
    assert mockgraph_client.post("/beta" + KEYSETS, json={{"id": "p"}}).status_code == 201
"""
)


def report_sections(output: str) -> dict[str, str]:
    """The "mockgraph exchanges" section of each failed test, by test name."""
    found = re.findall(
        r"_{3,} (test_\w+) _{3,}\n.*?-+ mockgraph exchanges -+\n(.*?)(?=\n_{3,} |\n={3,})",
        output,
        flags=re.S,
    )
    return dict(found)


def test_a_failed_test_reports_its_exchanges_redacted_and_trimmed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(REPORTED)
    result = run(pytester, "-rA")
    result.assert_outcomes(failed=3, passed=1)
    out = result.stdout.str()
    assert SECRET not in out and SECRET_TOKEN not in out
    sections = report_sections(out)
    assert sorted(sections) == [
        "test_app_and_server_fail",
        "test_client_fails",
        "test_server_fails",
    ]
    client = sections["test_client_fails"].splitlines()
    assert client[0] == "POST /beta/trustFramework/keySets -> 201 createKeySet contract: ok"
    assert client[1] == '    request: {"id": "r"}'
    assert client[2].startswith('    answer: {"@odata.context": ')
    upload = next(line for line in client if "uploadSecret" in line)
    assert upload == (
        "POST /beta/trustFramework/keySets/B2C_1A_r/uploadSecret -> 400 uploadSecret"
        " invalidRequest contract: ok"
    )
    upload_body = client[client.index(upload) + 1]
    assert upload_body.startswith('    request: {"k": "<redacted>", "use": "sig", "x": "yyy')
    assert upload_body.endswith("...") and len(upload_body) < 450
    assert (
        "GET /beta/trustFramework/keySets/B2C_1A_missing?$select=id -> 404 getKeySet"
        " itemNotFound contract: ok" in client
    )
    server = sections["test_server_fails"].splitlines()
    assert server[0] == "POST /beta/trustFramework/keySets -> 201 createKeySet contract: ok"
    both = sections["test_app_and_server_fail"].splitlines()
    assert both[:2] == ["mockgraph_app:", "(none)"]
    assert re.fullmatch(r"mockgraph_server http://127\.0\.0\.1:\d+:", both[2])
    assert both[3] == "(none)"


def test_the_report_names_a_contract_violation() -> None:
    entry = Entry(
        seq=1,
        time=0.0,
        monotonic=0.0,
        method="GET",
        path="/beta/trustFramework/keySets/B2C_1A_a",
        query={},
        headers={},
        body=None,
        status=200,
        response_headers={},
        response_body={"id": 3},
        operation="getKeySet",
        duration_ms=1.0,
        violations=["response: $.id: 3 is not of type 'string'"],
    )
    assert _exchange(entry).splitlines() == [
        "GET /beta/trustFramework/keySets/B2C_1A_a -> 200 getKeySet"
        " contract: response: $.id: 3 is not of type 'string'",
        '    answer: {"id": 3}',
    ]


def test_the_ini_option_turns_the_report_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmockgraph_report = false\n")
    pytester.makepyfile(REPORTED)
    result = run(pytester)
    result.assert_outcomes(failed=3, passed=1)
    assert "mockgraph exchanges" not in result.stdout.str()
