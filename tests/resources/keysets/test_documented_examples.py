"""Every documented example exchange (``fixtures/examples/``, built from the Graph doc pages)
replayed through the app: the documented status, the documented readable members, and an
answer that validates against the operation's response contract.

The doc examples carry placeholders: ``{id}`` in paths, values such as ``use-value`` or
``key-value``. Following the service's documented behaviour over its examples (README,
"Decisions"), placeholders are replaced by real values before replay, write-only members are
never expected back, and members the service generates (kid, modulus, thumbprint...) are
compared by type only.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64
from flask.testing import FlaskClient

from mockgraph.http.contracts import Contracts, packaged
from mockgraph.resources.keysets.models import SECRET_FIELDS
from mockgraph.state import MockGraph

EXAMPLES = sorted(
    (entry.name, json.loads(entry.read_text(encoding="utf-8")))
    for entry in packaged("examples", "fixtures/examples").iterdir()
    if entry.name.endswith(".json")
)
KEYSET = "B2C_1A_documented"
V2_KID = "aTREvwojOB9ph3fr2r6eTf_5eD5fmQsfsapVMwYI3o"
#: Members each operation makes itself: the documented value is an example of the type.
GENERATED = {
    "generateKey": {"kid", "n", "e", "x5c", "nbf", "exp"},
    "uploadSecret": {"kid"},
    "uploadCertificate": {"kid", "kty", "use", "n", "e", "x5c", "x5t", "nbf", "exp"},
    "uploadPkcs12": {"kid", "kty", "use", "n", "e", "x5c", "x5t", "nbf", "exp"},
}


def substitute(value: Any) -> Any:
    """Doc placeholder values -> values the service accepts."""
    real = {"kty-value": "RSA", "use-value": "sig"}
    if isinstance(value, dict):
        return {k: substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v) for v in value]
    return real.get(value, value) if isinstance(value, str) else value


def request_body(example: dict[str, Any]) -> Any:
    body = substitute(example["request"]["body"])
    if example["operation"] == "uploadCertificate":
        body["key"] = cert_der_b64(make_certificate()[1])
    if example["operation"] == "uploadPkcs12":
        body = {"key": make_pfx_b64("pfx-password"), "password": "pfx-password"}
    return body


def test_every_operation_has_a_documented_example(contracts: Contracts) -> None:
    documented = {example["operation"] for _, example in EXAMPLES}
    assert documented == set(contracts)


def readable(value: Any) -> Any:
    """What the service may read back: write-only members removed, at any depth."""
    if isinstance(value, dict):
        return {k: readable(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [readable(v) for v in value]
    return value


def seed_keys(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The key set's keys before the call: those the documented answer shows (so get and
    getActiveKey have the documented state to read), else one key for keys_v2."""
    body = substitute(example["response"]["body"]) or {}
    if example["operation"] == "getKeySet":
        return list(body["keys"])
    if example["operation"] == "getActiveKey":
        return [{k: v for k, v in body.items() if not k.startswith("@")}]
    return [{"kid": V2_KID}]


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_documented_example_replays(
    client: FlaskClient, state: MockGraph, name: str, example: dict[str, Any]
) -> None:
    operation = example["operation"]
    # The docs' example keys have nbf/exp of 99: a clock before that makes them active.
    state.clock.set(50)
    client.post("/beta/trustFramework/keySets", json={"id": KEYSET})
    seeded = client.put(f"/beta/trustFramework/keySets/{KEYSET}", json={"keys": seed_keys(example)})
    assert seeded.status_code == 200, seeded.get_data(as_text=True)
    path = example["request"]["path"]
    for placeholder in example["placeholders"]:
        path = path.replace("{" + placeholder + "}", KEYSET)

    response = client.open(
        path,
        method=example["request"]["method"],
        headers=example["request"]["headers"],
        data=None if example["request"]["body"] is None else json.dumps(request_body(example)),
    )

    documented = example["response"]
    assert response.status_code == documented["status"], response.get_data(as_text=True)
    if "Location" in documented["headers"]:
        assert response.headers["Location"] == documented["headers"]["Location"]
    body = response.get_json() if response.data else None
    assert state.contracts[operation].response_problems(body) == []
    expected = readable(substitute(documented["body"]))
    if expected is None:
        assert body is None
        return
    if "value" in expected:  # the list: the documented item is not in this store
        assert isinstance(body["value"], list) and body["value"]
        return
    generated = GENERATED.get(operation, set())
    for member, value in expected.items():
        if member.startswith("@odata."):
            continue
        got = body.get(member)
        if member == "id" and value == "id-value":
            assert got == KEYSET
        elif member in generated:
            if value not in (None, []):
                assert type(got) is type(value), member
        elif member == "kty":
            assert str(got).lower() == str(value).lower()
        else:
            assert got == value, member
    assert not set(body) & SECRET_FIELDS


def test_examples_ship_with_the_package() -> None:
    root = packaged("examples", "fixtures/examples")
    assert (root / "create_trustframeworkkeyset_from_trustframework1.json").is_file()


def test_shipped_contracts_are_valid_2020_12_schemas() -> None:
    # The app skips this check at start-up for the shipped contracts (it is most of a cold
    # start), so the suite makes it.
    from jsonschema import Draft202012Validator

    root = packaged("schemas", "schemas")
    names = [e.name for e in root.iterdir() if e.name.endswith(".json")]
    assert len(names) == 11
    for name in names:
        Draft202012Validator.check_schema(json.loads((root / name).read_text(encoding="utf-8")))
