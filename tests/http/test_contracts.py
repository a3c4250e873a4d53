"""Contracts: one clear message per bad request, response checks, and two engines that agree."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockgraph.http.contracts import Contracts, Reference, ecma_pattern, property_path
from mockgraph.http.errors import BadRequest


def test_property_path_joins_members_and_indexes() -> None:
    assert property_path(["keys", 0, "exp"]) == "keys[0].exp"
    assert property_path([]) == ""


def test_every_operation_has_a_contract(contracts: Contracts) -> None:
    assert set(contracts) == {
        "createKeySet", "listKeySets", "getKeySet", "updateKeySet", "deleteKeySet",
        "generateKey", "uploadSecret", "uploadCertificate", "uploadPkcs12", "getActiveKey",
        "updateKeyV2",
    }  # fmt: skip


def test_a_bad_request_names_the_path_and_never_the_value(contracts: Contracts) -> None:
    with pytest.raises(BadRequest) as caught:
        contracts["uploadSecret"].check_request({"use": "sig", "k": 12345678})
    assert "'k' must be a string" in caught.value.message
    assert "12345678" not in caught.value.message


def test_a_write_only_member_in_an_answer_is_a_problem_at_its_path(contracts: Contracts) -> None:
    body = {"id": "B2C_1A_x", "keys": [{"kid": "a", "d": "private"}]}
    problems = contracts["getKeySet"].response_problems(body)
    assert problems == [
        ("keys[0].d", "The property 'keys[0].d' is write-only and must not be read back.")
    ]


def test_a_valid_answer_has_no_problems(contracts: Contracts) -> None:
    body = {"id": "B2C_1A_x", "keys": [{"kid": "a", "kty": "oct"}]}
    assert contracts["getKeySet"].response_problems(body) == []


def test_an_operation_that_answers_no_body_has_a_problem_with_one(contracts: Contracts) -> None:
    contract = contracts["deleteKeySet"]
    assert contract.response is None
    assert contract.response_problems(None) == []
    assert contract.response_problems({"id": "x"}) != []


def test_a_bad_body_gets_one_message_naming_the_most_relevant_path(contracts: Contracts) -> None:
    with pytest.raises(BadRequest) as caught:
        contracts["createKeySet"].check_request({"id": "B2C_1A_x", "keys": [{"nbf": "soon"}]})
    assert caught.value.message == "The property 'keys[0].nbf' must be an integer or null."


def test_a_check_lists_every_problem_and_names_the_first(contracts: Contracts) -> None:
    check = contracts["createKeySet"].request
    assert check is not None
    body = {"id": 5, "keys": [{"exp": "x"}], "colour": "red"}
    assert not check.is_valid(body)
    paths = [path for path, _ in check.problems(body)]
    assert {"id", "keys[0].exp", ""} <= set(paths)
    assert check.first_problem(body) is not None
    assert check.first_problem({"id": "B2C_1A_x"}) is None
    assert check.problems({"id": "B2C_1A_x"}) == []


@pytest.mark.parametrize("value", ["x\n", "x\n\n", "B2C_1A_a\n"])
def test_a_final_newline_breaks_an_anchored_pattern_as_ecma_262_says(
    contracts: Contracts, value: str
) -> None:
    # Python's re lets "$" match before a final newline; JSON Schema's regexes (ECMA-262) do
    # not: both the verdict and the message follow ECMA-262.
    check = contracts["createKeySet"].request
    assert check is not None
    assert not check.is_valid({"id": value})
    with pytest.raises(BadRequest) as caught:
        contracts["createKeySet"].check_request({"id": value})
    assert caught.value.message.startswith("The property 'id' has an invalid value")
    assert value not in caught.value.message


def test_ecma_dollar_is_the_very_end_of_the_string() -> None:
    assert ecma_pattern("^a$").search("a")
    assert not ecma_pattern("^a$").search("a\n")
    assert ecma_pattern("^[$]$").search("$")  # a "$" in a class is the character


def _property_names(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_property_names(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    names = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) else set()
    return names.union(*(_property_names(value) for value in node.values()))


# Values the codec can hand over: no lone surrogates, integers within 64 bits, finite floats.
_text = st.text(max_size=12) | st.sampled_from(["x\n", "B2C_1A_a\n", "a" * 257, ""])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)


def _bodies(names: list[str]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(names) | _text
    values = st.recursive(
        _scalars | st.sampled_from(["RSA", "oct", "sig", "enc", "enabled", "B2C_1A_a"]),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=12,
    )
    return st.dictionaries(keys, values, max_size=6) | values


_NAMED = re.compile(r"^The (property '.*'|request body) ", re.DOTALL)


@cache
def _engines(operation: str, which: str) -> tuple[Any, Any]:
    """jsonschema_rs and the reference validator, each on its own, for one definition."""
    check = getattr(Contracts.load()[operation], which)
    return jsonschema_rs.Draft202012Validator(check.schema), Reference(check.schema)


@pytest.mark.slow  # 150 bodies for each of the contracts' definitions
@pytest.mark.parametrize("operation", sorted(Contracts.load()))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_two_engines_agree_on_any_body_and_a_refused_one_is_named_by_path(
    contracts: Contracts, operation: str, data: st.DataObject
) -> None:
    contract = contracts[operation]
    for which in ("request", "response"):
        check = getattr(contract, which)
        if check is None:
            continue
        body = data.draw(_bodies(sorted(_property_names(contract.schema) | {"@odata.type"})))
        fast, reference = _engines(operation, which)
        verdict = fast.is_valid(body)
        assert check.is_valid(body) == verdict, body
        assert reference.is_valid(body) == verdict, body
        if verdict:
            assert check.problems(body) == [] and check.first_problem(body) is None
        else:
            message = check.first_problem(body)
            assert message is not None and _NAMED.match(message), (body, message)
            assert check.problems(body), body
