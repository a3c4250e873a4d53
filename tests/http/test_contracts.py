"""Contracts: one clear message per bad request, response checks, and two engines that agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockgraph.http.contracts import Contracts, property_path
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


def test_a_write_only_member_in_an_answer_is_a_violation(contracts: Contracts) -> None:
    body = {"id": "B2C_1A_x", "keys": [{"kid": "a", "d": "private"}]}
    violations = contracts["getKeySet"].response_violations(body)
    assert violations == ["The property 'keys[0].d' is write-only and must not be read back."]


def test_a_valid_body_never_takes_the_reference_walk(
    contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = contracts["createKeySet"]
    assert contract.request is not None and contract.response is not None

    def walked(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("jsonschema walked a body the fast engine passed")

    # The validators are slotted: patch their class (restored after the test).
    monkeypatch.setattr(type(contract.request), "iter_errors", walked)
    monkeypatch.setattr(type(contract.response), "iter_errors", walked)
    contract.check_request({"id": "B2C_1A_fast", "keys": [{"kid": "a", "kty": "oct", "k": "cw"}]})
    assert contract.response_violations({"id": "B2C_1A_fast", "keys": [{"kid": "a"}]}) == []


def test_a_bad_body_is_explained_by_the_reference_engine(contracts: Contracts) -> None:
    # The fast engine only says "invalid"; the message is jsonschema's best match.
    with pytest.raises(BadRequest) as caught:
        contracts["createKeySet"].check_request({"id": "B2C_1A_x", "keys": [{"nbf": "soon"}]})
    assert caught.value.message == "The property 'keys[0].nbf' must be an integer or null."


def test_a_final_newline_breaks_an_anchored_pattern_as_ecma_262_says(
    contracts: Contracts,
) -> None:
    # Python's re lets "$" match before a final newline; JSON Schema's regexes (ECMA-262) do
    # not. jsonschema alone would pass this id; the fast engine's verdict stands.
    assert contracts["createKeySet"].request is not None
    assert contracts["createKeySet"].request.is_valid({"id": "x\n"})
    with pytest.raises(BadRequest) as caught:
        contracts["createKeySet"].check_request({"id": "x\n"})
    assert caught.value.message.startswith("The property 'id' has an invalid value")
    assert "x\n" not in caught.value.message


def test_a_value_the_fast_engine_cannot_take_is_judged_by_jsonschema(
    contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = contracts["createKeySet"]
    fast = contract.fast_request
    assert fast is not None

    class Refusing:
        def is_valid(self, instance: Any) -> bool:
            raise ValueError("cannot convert")

    monkeypatch.setattr(fast, "_validator", Refusing())
    assert fast.verdict({"id": "B2C_1A_s"}) is None
    contract.check_request({"id": "B2C_1A_s"})  # jsonschema alone: valid
    with pytest.raises(BadRequest) as caught:
        contract.check_request({"id": "B2C_1A_s", "keys": [{"nbf": "soon"}]})
    assert "'keys[0].nbf'" in caught.value.message


def test_a_lone_surrogate_is_a_string_to_both_engines(contracts: Contracts) -> None:
    # Valid JSON text (an escape), no Unicode: both engines take it as a string.
    contract = contracts["createKeySet"]
    assert contract.fast_request is not None and contract.request is not None
    body = {"id": "B2C_1A_s", "keys": [{"kid": "\ud800"}]}
    assert contract.fast_request.verdict(body) is True
    assert contract.request.is_valid(body)


def _property_names(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_property_names(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    names = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) else set()
    return names.union(*(_property_names(value) for value in node.values()))


# Strings that end in a newline are where the two regex dialects differ on purpose (above).
_text = st.text(max_size=12).filter(lambda text: not text.endswith("\n"))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
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


@pytest.mark.parametrize("operation", sorted(Contracts.load()))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_fast_engine_and_jsonschema_agree_on_any_body(
    contracts: Contracts, operation: str, data: st.DataObject
) -> None:
    contract = contracts[operation]
    for reference, fast in ((contract.request, contract.fast_request),
                            (contract.response, contract.fast_response)):  # fmt: skip
        if reference is None or fast is None:
            continue
        body = data.draw(_bodies(sorted(_property_names(contract.schema) | {"@odata.type"})))
        verdict = fast.verdict(body)
        assert verdict is not None, body  # JSON values: the fast engine takes every one
        assert verdict == reference.is_valid(body), body
