"""Tests of mockgraph.build.spec: matching request lines to the operations passed in."""

from __future__ import annotations

import pytest

from mockgraph.build.spec import OperationSpec, family_name, match_operation, operation_specs

#: The keySet operations as ``mockgraph contracts build`` takes them: from the operations table.
KEYSET_OPERATIONS = tuple(operation_specs())


def matched_id(method: str, url: str) -> str | None:
    op = match_operation(method, url, KEYSET_OPERATIONS)
    return op.id if op else None


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "https://graph.microsoft.com/beta/trustFramework/keySets", "listKeySets"),
        ("post", "/trustFramework/keySets", "createKeySet"),
        ("GET", "/beta/trustFramework/keySets('B2C_1A_x')", "getKeySet"),
        ("GET", "/v1.0/TRUSTFRAMEWORK/keysets/x", "getKeySet"),
        ("POST", "/beta/trustFramework/keySets/x/microsoft.graph.generateKey", "generateKey"),
        ("GET", "/trustFramework/keySets/x/getActiveKey?$select=kid", "getActiveKey"),
        ("PATCH", "/trustFramework/keySets/{id}/keys_v2/{kid}", "updateKeyV2"),
    ],
)
def test_request_lines_match_their_operation(method: str, url: str, expected: str) -> None:
    assert matched_id(method, url) == expected


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PATCH", "/trustFramework/keySets"),
        ("GET", "/trustFramework/keySets/x/y"),
        ("GET", "/trustFramework/policies/x"),
    ],
)
def test_request_lines_of_other_operations_match_none(method: str, url: str) -> None:
    assert matched_id(method, url) is None


def test_only_the_operations_given_are_matched() -> None:
    listing = OperationSpec("listKeySets", "GET", "/trustFramework/keySets")
    assert match_operation("GET", "/trustFramework/keySets", [listing]) is listing
    assert match_operation("GET", "/trustFramework/keySets/x", [listing]) is None


def test_the_first_matching_operation_wins() -> None:
    fixed = OperationSpec("getDefault", "GET", "/trustFramework/keySets/default")
    found = match_operation("GET", "/trustFramework/keySets/default", [fixed, *KEYSET_OPERATIONS])
    assert found is fixed


def test_operations_are_named_by_the_last_fixed_segment_they_share() -> None:
    assert family_name(KEYSET_OPERATIONS) == "keySets"
    policy = OperationSpec("getPolicy", "GET", "/trustFramework/policies/{id}")
    assert family_name([policy]) == "policies"
    assert family_name([*KEYSET_OPERATIONS, policy]) == "trustFramework"
    assert family_name([OperationSpec("me", "GET", "/me"), policy]) == "listed"
    assert family_name([]) == "listed"
