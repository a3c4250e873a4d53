"""schemathesis against the served mock's own OpenAPI document (``GET
/_mockgraph/openapi.json``): every operation gets a bounded number of generated requests, valid
and invalid ones plus the document's examples, sent over loopback to ``mockgraph serve``. A run
fails on any 5xx, and on any answer that breaks the document: an undocumented status, content
type, headers or body, and on an invalid request (by the document) that is not refused with a
4xx. Most item requests go to a key set that exists (with an active key), so the actions are
fuzzed past their 404.

schemathesis' own pytest integration (``schema.parametrize()``) is not used: its schema would
have to be loaded at import, before the server runs. Each operation is a Hypothesis test built
here instead, ``derandomize``-d so CI sees the same cases every run; raise ``MAX_EXAMPLES``
locally to search wider.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from attacks.served import Served
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

pytestmark = pytest.mark.slow

#: Generated cases per operation (valid and invalid ones together), examples not counted.
MAX_EXAMPLES = 25
#: The key set that item requests are pointed at, three times in four.
EXISTING = "B2C_1A_Fuzz"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # An invalid request (by the document) must get a 4xx: the document and the mock agree.
    "negative_data_rejection",
)
AUTH = {"Authorization": "Bearer fuzz-token"}
CONFIG = SchemathesisConfig.from_dict(
    {
        "headers": AUTH,
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    }
)
#: The key set every case starts from: an active oct key and an RSA key (public members only
#: matter to the document; secrets are never read back).
SEED = {
    "keySets": [
        {
            "id": EXISTING,
            "keys": [
                {"kid": "active", "kty": "oct", "use": "sig", "k": "c2VjcmV0", "nbf": 1,
                 "exp": 2**40},
                {"kid": "rsa", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            ],
        }
    ]
}  # fmt: skip


def _document(port: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/_mockgraph/openapi.json")
    document: dict[str, Any] = json.loads(connection.getresponse().read())
    connection.close()
    return document


def _labels(document: dict[str, Any]) -> list[str]:
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    ]


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    schema = schemathesis.openapi.from_url(served.root + "/_mockgraph/openapi.json", config=CONFIG)
    return schema


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def statuses() -> Iterator[Counter[tuple[str, int]]]:
    """Answers per (operation, status), printed at the end (``pytest -s``) for the report."""
    seen: Counter[tuple[str, int]] = Counter()
    yield seen
    print(f"\nschemathesis: {sum(seen.values())} cases")
    for (label, status), n in sorted(seen.items()):
        print(f"  {label} -> {status}: {n}")


def _invalid_path(case: Any) -> bool:
    """True when the case's path parameters were made invalid on purpose: they must reach the
    mock as generated. (Other invalid parts are redirected, so they meet a key set that exists
    rather than its 404.)"""
    component = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    return component is not None and component.mode.is_negative


#: The operations of the document the mock ships; the test below checks it is still so.
LABELS = (
    "POST /trustFramework/keySets",
    "GET /trustFramework/keySets",
    "GET /trustFramework/keySets/{id}",
    "PUT /trustFramework/keySets/{id}",
    "PATCH /trustFramework/keySets/{id}",
    "DELETE /trustFramework/keySets/{id}",
    "POST /trustFramework/keySets/{id}/generateKey",
    "POST /trustFramework/keySets/{id}/uploadSecret",
    "POST /trustFramework/keySets/{id}/uploadCertificate",
    "POST /trustFramework/keySets/{id}/uploadPkcs12",
    "GET /trustFramework/keySets/{id}/getActiveKey",
    "PATCH /trustFramework/keySets/{id}/keys_v2/{kid}",
)


def test_every_operation_of_the_served_document_is_fuzzed(served: Served) -> None:
    assert sorted(_labels(_document(served.port))) == sorted(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_every_answer_conforms_to_the_served_openapi_document(
    label: str,
    served: Served,
    api_schema: Any,
    http_session: requests.Session,
    statuses: Counter[tuple[str, int]],
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        *api_schema.get_strategies_from_examples(operation),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, existing=st.sampled_from([True, True, True, False]))
    def exchange(case: Any, existing: bool) -> None:
        served.seed(SEED)
        parameters = case.path_parameters or {}
        if existing and "id" in parameters and not _invalid_path(case):
            parameters["id"] = EXISTING
            if "kid" in parameters:
                parameters["kid"] = "active"
        # The examples' cases miss the config's headers; a case that sends its own
        # (invalid) Authorization keeps it.
        headers = {} if "Authorization" in (case.headers or {}) else AUTH
        response = case.call_and_validate(
            base_url=served.root + "/beta", session=http_session, headers=headers
        )
        statuses[(label, response.status_code)] += 1

    exchange()


def test_fuzzing_fails_on_an_answer_the_document_does_not_allow(served: Served) -> None:
    # The harness itself must be able to fail: a document that says create answers 200 is
    # contradicted by the mock's 201.
    lying = copy.deepcopy(_document(served.port))
    create = lying["paths"]["/trustFramework/keySets"]["post"]["responses"]
    create["200"] = create.pop("201")
    api = schemathesis.openapi.from_dict(lying, config=CONFIG)
    operation = api.find_operation_by_label("POST /trustFramework/keySets")
    case = operation.Case(body={"id": "Lie"}, media_type="application/json")
    served.seed({"keySets": []})
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(base_url=served.root + "/beta", headers=AUTH)
