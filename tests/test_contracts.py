"""Contracts: one clear message per bad request, response checks, remembered verdicts."""

from __future__ import annotations

import json

import pytest

from mockgraph.contracts import Contracts, Memo, property_path
from mockgraph.errors import BadRequest


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


def test_verdicts_on_the_same_bytes_are_remembered(contracts: Contracts) -> None:
    contract = contracts["getKeySet"]
    good = {"id": "B2C_1A_memo", "keys": []}
    encoded = json.dumps(good).encode()
    before = len(contract.memo)
    assert contract.response_violations(good, encoded=encoded) == []
    assert len(contract.memo) == before + 1
    # The same bytes again: the remembered verdict, no second entry.
    assert contract.response_violations(good, encoded=encoded) == []
    assert len(contract.memo) == before + 1
    bad = {"id": "B2C_1A_memo", "keys": [{"k": "s"}]}
    assert contract.response_violations(bad, encoded=json.dumps(bad).encode())


def test_the_memo_is_bounded_and_drops_the_oldest() -> None:
    memo = Memo(2)
    for key in (b"a", b"b", b"c"):
        memo.put(key, ())
    assert len(memo) == 2
    assert memo.get(b"a") is None and memo.get(b"c") == ()
