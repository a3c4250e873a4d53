"""Test tokens: what ``make_token`` and ``mockgraph token`` put in a JWT, and what ``read_jwt``
refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from click.testing import CliRunner

from mockgraph.cli import main
from mockgraph.features.tokens import (
    GRAPH_AUDIENCE,
    SIGNING_KEY,
    MalformedToken,
    looks_like_jwt,
    make_token,
    read_jwt,
)

READ = "TrustFrameworkKeySet.Read.All"
READ_WRITE = "TrustFrameworkKeySet.ReadWrite.All"


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_scp_is_one_space_separated_claim_from_a_string_or_a_list() -> None:
    assert read_jwt(make_token(scp=f"{READ} {READ_WRITE}"))["scp"] == f"{READ} {READ_WRITE}"
    assert read_jwt(make_token(scp=[READ, READ_WRITE]))["scp"] == f"{READ} {READ_WRITE}"


def test_roles_are_a_list_and_absent_kinds_are_left_out() -> None:
    claims = read_jwt(make_token(roles=[READ_WRITE]))
    assert claims["roles"] == [READ_WRITE]
    assert "scp" not in claims


def test_token_is_for_graph_and_expires_after_its_lifetime_from_now() -> None:
    claims = read_jwt(make_token(scp=READ, now=1_000_000, expires_in=60))
    assert claims["aud"] == GRAPH_AUDIENCE
    assert (claims["iat"], claims["exp"]) == (1_000_000, 1_000_060)
    assert read_jwt(make_token(scp=READ, now=1_000_000, expires_in=-5))["exp"] == 999_995
    assert "exp" not in read_jwt(make_token(scp=READ, expires_in=None))


def test_extra_claims_are_added_last_and_win() -> None:
    claims = read_jwt(make_token(scp=READ, claims={"aud": "api://other", "oid": "u1"}))
    assert (claims["aud"], claims["oid"]) == ("api://other", "u1")


def test_token_is_hs256_signed_with_the_published_key() -> None:
    token = make_token(roles=[READ])
    header_part, payload_part, signature_part = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header_part + "==")) == {
        "alg": "HS256",
        "typ": "JWT",
    }
    expected = hmac.new(
        SIGNING_KEY, f"{header_part}.{payload_part}".encode(), hashlib.sha256
    ).digest()
    assert signature_part == b64(expected)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("a b.c.d", "header is not base64url"),
        (f"{b64({'alg': 'none'})}.@@@.", "payload is not base64url"),
        (f"{b64(b'not json')}.{b64({})}.", "header is not JSON"),
        (f"{b64([1, 2])}.{b64({})}.", "header is not a JSON object"),
        (f"{b64({'alg': 'none'})}.{b64('text')}.", "payload is not a JSON object"),
        (f".{b64({})}.", "header or payload is empty"),
        (f"{b64({'alg': 'none'})}.{b64({'exp': 'tomorrow'})}.", "'exp' claim is not a number"),
        (f"{b64({'alg': 'none'})}.{b64({'nbf': True})}.", "'nbf' claim is not a number"),
        (f"{b64({'alg': 'none'})}.{b64({'scp': [READ]})}.", "'scp' claim is not a string"),
        (f"{b64({'alg': 'none'})}.{b64({'roles': READ})}.", "'roles' claim is not a list"),
        (f"{b64({'alg': 'none'})}.{b64({'aud': 5})}.", "'aud' claim is not a string"),
    ],
)
def test_malformed_jwts_are_refused_with_a_reason_that_never_quotes_the_token(
    token: str, reason: str
) -> None:
    with pytest.raises(MalformedToken, match=reason) as caught:
        read_jwt(token)
    for part in token.split("."):
        if len(part) > 3:
            assert part not in str(caught.value)


def test_an_unsigned_alg_none_token_is_read_too() -> None:
    assert read_jwt(f"{b64({'alg': 'none'})}.{b64({'scp': READ})}.")["scp"] == READ


@pytest.mark.parametrize(
    ("token", "is_jwt"),
    [("opaque-token", False), ("opaque.token", False), ("a.b.c", True), ("a.b.c.d.e", False)],
)
def test_only_three_part_tokens_are_taken_for_jwts(token: str, is_jwt: bool) -> None:
    assert looks_like_jwt(token) is is_jwt


def test_token_command_prints_a_delegated_token() -> None:
    result = CliRunner().invoke(main, ["token", "--scp", f"{READ} {READ_WRITE}"])
    assert result.exit_code == 0, result.output
    claims = read_jwt(result.output.strip())
    assert claims["scp"] == f"{READ} {READ_WRITE}"
    assert claims["exp"] - claims["iat"] == 3600


def test_token_command_repeats_roles_and_takes_lifetime_and_audience() -> None:
    args = ["token", "--roles", READ, "--roles", READ_WRITE, "--exp", "-10", "--aud", "api://x"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    claims = read_jwt(result.output.strip())
    assert claims["roles"] == [READ, READ_WRITE]
    assert claims["aud"] == "api://x"
    assert claims["exp"] - claims["iat"] == -10


@pytest.mark.parametrize("args", [[], ["--scp", READ, "--roles", READ]])
def test_token_command_needs_exactly_one_of_scp_and_roles(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["token", *args])
    assert result.exit_code == 2
    assert "either --scp (delegated) or --roles (application)" in result.output
