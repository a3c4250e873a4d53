"""The rules every key set obeys however it is written (a create, a PUT or PATCH, an upload, a
state file): a key type of RSA or oct, ``nbf`` not later than ``exp``, one key per ``kid``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from mockgraph.resources.keysets.models import Key, KeySet, key_problems, with_prefix
from mockgraph.state import MockGraph

BASE = "/beta/trustFramework/keySets"


def test_a_key_set_without_a_broken_rule_has_no_problem() -> None:
    keys = (Key(kid="a", kty="RSA", nbf=1, exp=1), Key(kid="b", kty="OCT"), Key(), Key())
    assert key_problems(keys) is None


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ((Key(kty="EC"),), (0, "kty", "must be one of: RSA, oct")),
        ((Key(kid="a"), Key(nbf=2, exp=1)), (1, "nbf", "must not be later than 'exp'")),
        (
            (Key(kid="a"), Key(kid="b"), Key(kid="a")),
            (2, "kid", "is already the kid of another key of the set"),
        ),
    ],
)
def test_the_first_broken_rule_is_named_by_index_and_member(
    keys: tuple[Key, ...], problem: tuple[int, str, str]
) -> None:
    assert key_problems(keys) == problem


def test_kids_compare_exactly() -> None:
    assert key_problems((Key(kid="a"), Key(kid="A"))) is None


def test_the_b2c_prefix_is_added_unless_present_in_any_case() -> None:
    assert with_prefix("x") == "B2C_1A_x"
    assert with_prefix("b2c_1a_x") == "b2c_1a_x"


def write(client: FlaskClient, how: str, keys: list[dict[str, Any]]) -> Any:
    if how == "create":
        return client.post(BASE, json={"id": "rules", "keys": keys})
    client.post(BASE, json={"id": "rules", "keys": [{"kid": "kept"}]})
    return client.open(f"{BASE}/B2C_1A_rules", method=how, json={"keys": keys})


def stored(state: MockGraph) -> KeySet | None:
    store = state.stores["keySets"]
    return store.get("B2C_1A_rules") if "B2C_1A_rules" in store else None


@pytest.mark.parametrize("how", ["create", "PUT", "PATCH"])
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            [{"kid": "a", "nbf": 20, "exp": 10}],
            "The property 'keys[0].nbf' must not be later than 'exp'.",
        ),
        (
            [{"kid": "a"}, {"kid": "b"}, {"kid": "a", "kty": "oct"}],
            "The property 'keys[2].kid' is already the kid of another key of the set.",
        ),
        ([{"kid": "a", "kty": "EC"}], "The property 'keys[0].kty' has an invalid value"),
    ],
    ids=["nbf-after-exp", "duplicate-kid", "ec"],
)
def test_a_body_that_breaks_a_rule_is_400_naming_the_key_and_changes_nothing(
    client: FlaskClient, state: MockGraph, how: str, keys: list[dict[str, Any]], message: str
) -> None:
    before = stored(state) if how == "create" else None
    answer = write(client, how, keys)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["message"].startswith(message)
    if how == "create":
        assert stored(state) is before is None
    else:
        assert stored(state) == KeySet("B2C_1A_rules", (Key(kid="kept"),))


@pytest.mark.parametrize("how", ["create", "PUT", "PATCH"])
def test_a_body_within_the_rules_is_stored(client: FlaskClient, state: MockGraph, how: str) -> None:
    keys = [{"kid": "a", "nbf": 10, "exp": 10}, {"kid": "b", "kty": "rsa"}, {"kty": "oct"}, {}]
    answer = write(client, how, keys)
    assert answer.status_code in {200, 201}, answer.get_data(as_text=True)
    keyset = stored(state)
    assert keyset is not None and [key.kid for key in keyset.keys] == ["a", "b", None, None]
