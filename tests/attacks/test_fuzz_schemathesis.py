"""Fuzz the mock with schemathesis against the OpenAPI document it serves (issue 5, point 5).

Every operation of ``/_mockgraph/openapi.json`` gets a bounded number of generated requests,
valid and invalid ones plus the document's examples, sent in-process to the WSGI app. A run
fails on any 5xx, and on any answer that breaks the document: an undocumented status, content
type, headers or body, and on an invalid request (by the document) that is not refused with a
4xx. Most item requests go to a key set that exists (with an active key), so the actions are
fuzzed past their 404.

schemathesis' own pytest integration (``schema.parametrize()``) is not used: with a schema from
a fixture it breaks on pytest 9 (it writes ``request.node._nodeid``), and a module-level schema
would build an app at import. Each operation is a Hypothesis test built here instead.
Deterministic (``derandomize``): CI sees the same cases every run; raise ``MAX_EXAMPLES``
locally to search wider.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from mockgraph import Config, KeySet, create_app
from mockgraph.features.openapi import DOCUMENT_PATH, build_document
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets.keys import generate_rsa, secret_key
from mockgraph.state import mockgraph

#: Generated cases per operation (valid and invalid ones together), examples not counted.
MAX_EXAMPLES = 40
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


def _labels() -> list[str]:
    """``METHOD /path`` of every operation the shipped contracts document."""
    document = build_document(Contracts.load().values())
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    ]


@pytest.fixture(scope="module")
def fuzz_app() -> Flask:
    return create_app(Config())


@pytest.fixture(scope="module")
def seed_keyset() -> KeySet:
    # Made once: an RSA key per case would dominate the run.
    active = generate_rsa("sig", None, None, key_size=1024)
    return KeySet(EXISTING, (active, secret_key("enc", "c2VjcmV0", None, None)))


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi(DOCUMENT_PATH, fuzz_app, config=CONFIG)


@pytest.fixture(scope="module")
def statuses() -> Iterator[Counter[tuple[str, int]]]:
    """Answers per (operation, status), printed at the end (``pytest -s``) for the report."""
    seen: Counter[tuple[str, int]] = Counter()
    yield seen
    total = sum(seen.values())
    print(f"\nschemathesis: {total} cases")
    for (label, status), n in sorted(seen.items()):
        print(f"  {label} -> {status}: {n}")


def _invalid_path(case: Any) -> bool:
    """True when the case's path parameters were made invalid on purpose: they must reach the
    mock as generated. (Other invalid parts are redirected, so they meet a key set that exists
    rather than its 404.)"""
    component = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    return component is not None and component.mode.is_negative


@pytest.mark.parametrize("label", _labels())
def test_every_answer_conforms_to_the_served_openapi_document(
    label: str,
    api_schema: Any,
    fuzz_app: Flask,
    seed_keyset: KeySet,
    statuses: Counter[tuple[str, int]],
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    store = mockgraph(fuzz_app).stores["keySets"]
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
        store.load([seed_keyset])
        parameters = case.path_parameters or {}
        if existing and "id" in parameters and not _invalid_path(case):
            parameters["id"] = EXISTING
            if "kid" in parameters:
                parameters["kid"] = seed_keyset.keys[0].kid
        # The examples' cases miss the config's headers; a case that sends its own
        # (invalid) Authorization keeps it.
        headers = {} if "Authorization" in (case.headers or {}) else AUTH
        response = case.call_and_validate(headers=headers)
        statuses[(label, response.status_code)] += 1

    exchange()


def test_fuzzing_fails_on_an_answer_the_document_does_not_allow(fuzz_app: Flask) -> None:
    # The harness itself must be able to fail: a document that says create answers 200 is
    # contradicted by the mock's 201.
    document = mockgraph(fuzz_app).services["openapi"]
    lying = copy.deepcopy(document)
    create = lying["paths"]["/trustFramework/keySets"]["post"]["responses"]
    create["200"] = create.pop("201")
    api = schemathesis.openapi.from_dict(lying, config=CONFIG)
    api.app = fuzz_app
    operation = api.find_operation_by_label("POST /trustFramework/keySets")
    case = operation.Case(body={"id": "Lie"}, media_type="application/json")
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(headers=AUTH)
