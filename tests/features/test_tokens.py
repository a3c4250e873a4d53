"""Test tokens: what ``make_token`` and ``mockgraph token`` put in a JWT, and what
``read_claims`` refuses (malformed claims, impossible lifetimes, and with a key a bad signature
or a foreign audience)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from mockgraph.cli import main
from mockgraph.features.tokens import (
    GRAPH_AUDIENCE,
    GRAPH_AUDIENCES,
    SIGNING_KEY,
    MalformedToken,
    looks_like_jwt,
    make_token,
    read_claims,
)

READ = "TrustFrameworkKeySet.Read.All"
READ_WRITE = "TrustFrameworkKeySet.ReadWrite.All"


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_scp_is_one_space_separated_claim_from_a_string_or_a_list() -> None:
    assert read_claims(make_token(scp=f"{READ} {READ_WRITE}"))["scp"] == f"{READ} {READ_WRITE}"
    assert read_claims(make_token(scp=[READ, READ_WRITE]))["scp"] == f"{READ} {READ_WRITE}"


def test_roles_are_a_list_and_absent_kinds_are_left_out() -> None:
    claims = read_claims(make_token(roles=[READ_WRITE]))
    assert claims["roles"] == [READ_WRITE]
    assert "scp" not in claims


def test_token_is_for_graph_and_expires_after_its_lifetime_from_now() -> None:
    claims = read_claims(make_token(scp=READ, now=1_000_000, expires_in=60))
    assert claims["aud"] == GRAPH_AUDIENCE
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_000_000, 1_000_000, 1_000_060)
    assert read_claims(make_token(scp=READ, now=1_000_000, expires_in=-5))["exp"] == 999_995
    assert "exp" not in read_claims(make_token(scp=READ, expires_in=None))


def test_extra_claims_are_added_last_and_win() -> None:
    claims = read_claims(make_token(scp=READ, claims={"aud": "api://other", "oid": "u1"}))
    assert (claims["aud"], claims["oid"]) == ("api://other", "u1")


def test_token_is_hs256_signed_with_the_published_key() -> None:
    token = make_token(roles=[READ])
    header_part, payload_part, signature_part = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header_part + "==")) == {
        "alg": "HS256",
        "typ": "JWT",
    }
    expected = hmac.new(
        SIGNING_KEY.encode(), f"{header_part}.{payload_part}".encode(), hashlib.sha256
    ).digest()
    assert signature_part == b64(expected)


def claims_token(payload: bytes) -> str:
    """An unsigned JWT whose payload is ``payload`` as given (JSON that ``json.dumps`` would
    not write: ``NaN``, ``1e400``)."""
    return f"{b64({'alg': 'none'})}.{b64(payload)}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("a b.c.d", "it does not decode"),
        (f"{b64({'alg': 'none'})}.@@@.", "it does not decode"),
        (f"{b64(b'not json')}.{b64({})}.", "it does not decode"),
        (f"{b64([1, 2])}.{b64({})}.", "it does not decode"),
        (f"{b64({'alg': 'none'})}.{b64('text')}.", "it does not decode"),
        (f".{b64({})}.", "it does not decode"),
        (f"{b64({'alg': 'none'})}.{b64({'exp': 'tomorrow'})}.", "'exp' claim is not a finite"),
        (f"{b64({'alg': 'none'})}.{b64({'nbf': True})}.", "'nbf' claim is not a finite number"),
        (f"{b64({'alg': 'none'})}.{b64({'iat': [1]})}.", "'iat' claim is not a finite number"),
        (f"{b64({'alg': 'none'})}.{b64({'scp': [READ]})}.", "'scp' claim is not a string"),
        (f"{b64({'alg': 'none'})}.{b64({'roles': READ})}.", "'roles' claim is not a list"),
        (f"{b64({'alg': 'none'})}.{b64({'aud': 5})}.", "'aud' claim is not a string"),
    ],
)
def test_malformed_jwts_are_refused_with_a_reason_that_never_quotes_the_token(
    token: str, reason: str
) -> None:
    with pytest.raises(MalformedToken, match=reason) as caught:
        read_claims(token)
    for part in token.split("."):
        if len(part) > 3:
            assert part not in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp": NaN}',
        b'{"exp": 1e400}',
        b'{"exp": Infinity}',
        b'{"nbf": -Infinity}',
        b'{"iat": NaN}',
        b'{"exp": 1' + b"0" * 400 + b"}",
    ],
)
def test_a_lifetime_that_is_not_a_finite_number_is_refused(payload: bytes) -> None:
    with pytest.raises(MalformedToken, match="claim is not a finite number"):
        read_claims(claims_token(payload))


def test_a_token_valid_from_after_it_expires_is_refused() -> None:
    with pytest.raises(MalformedToken, match="its 'nbf' is later than its 'exp'"):
        read_claims(
            make_token(scp=READ, now=1_000_000, claims={"nbf": 1_000_061, "exp": 1_000_060})
        )
    # The same instant for both is a token valid for no time at all, not a contradiction.
    assert read_claims(make_token(scp=READ, now=1_000_000, expires_in=0))["exp"] == 1_000_000


# -- signatures, with the key of an authority ------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    return jwt.encode({"aud": GRAPH_AUDIENCE, "scp": READ, **claims}, key, algorithm="RS256")


def test_a_token_signed_by_the_authority_for_graph_is_accepted(
    authority: rsa.RSAPrivateKey,
) -> None:
    claims = read_claims(signed(authority), key=authority.public_key(), audience=GRAPH_AUDIENCES)
    assert (claims["aud"], claims["scp"]) == (GRAPH_AUDIENCE, READ)


def test_a_token_signed_by_another_key_is_refused(authority: rsa.RSAPrivateKey) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(MalformedToken, match="its signature does not verify"):
        read_claims(signed(impostor), key=authority.public_key(), audience=GRAPH_AUDIENCES)


def test_a_token_whose_payload_was_changed_after_signing_is_refused(
    authority: rsa.RSAPrivateKey,
) -> None:
    header, _, signature = signed(authority).split(".")
    forged = f"{header}.{b64({'aud': GRAPH_AUDIENCE, 'scp': READ_WRITE})}.{signature}"
    with pytest.raises(MalformedToken, match="its signature does not verify"):
        read_claims(forged, key=authority.public_key(), audience=GRAPH_AUDIENCES)


@pytest.mark.parametrize(
    "token",
    [
        make_token(scp=READ),  # HS256 with the published key: anyone can mint it
        f"{b64({'alg': 'none'})}.{b64({'aud': GRAPH_AUDIENCE, 'scp': READ})}.",
    ],
)
def test_a_token_not_signed_with_rs256_is_refused_when_a_key_is_given(
    authority: rsa.RSAPrivateKey, token: str
) -> None:
    with pytest.raises(MalformedToken):
        read_claims(token, key=authority.public_key(), audience=GRAPH_AUDIENCES)


def test_a_signed_token_for_another_audience_is_refused(authority: rsa.RSAPrivateKey) -> None:
    foreign = signed(authority, aud="api://my-api")
    with pytest.raises(MalformedToken, match="it is not meant for Microsoft Graph"):
        read_claims(foreign, key=authority.public_key(), audience=GRAPH_AUDIENCES)


def test_an_unsigned_alg_none_token_is_read_too() -> None:
    assert read_claims(f"{b64({'alg': 'none'})}.{b64({'scp': READ})}.")["scp"] == READ


@pytest.mark.parametrize(
    ("token", "is_jwt"),
    [("opaque-token", False), ("opaque.token", False), ("a.b.c", True), ("a.b.c.d.e", False)],
)
def test_only_three_part_tokens_are_taken_for_jwts(token: str, is_jwt: bool) -> None:
    assert looks_like_jwt(token) is is_jwt


def test_token_command_prints_a_delegated_token() -> None:
    result = CliRunner().invoke(main, ["token", "--scp", f"{READ} {READ_WRITE}"])
    assert result.exit_code == 0, result.output
    claims = read_claims(result.output.strip())
    assert claims["scp"] == f"{READ} {READ_WRITE}"
    assert claims["exp"] - claims["iat"] == 3600


def test_token_command_repeats_roles_and_takes_lifetime_and_audience() -> None:
    args = ["token", "--roles", READ, "--roles", READ_WRITE, "--exp", "-10", "--aud", "api://x"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    claims = read_claims(result.output.strip())
    assert claims["roles"] == [READ, READ_WRITE]
    assert claims["aud"] == "api://x"
    assert claims["exp"] - claims["iat"] == -10


@pytest.mark.parametrize("args", [[], ["--scp", READ, "--roles", READ]])
def test_token_command_needs_exactly_one_of_scp_and_roles(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["token", *args])
    assert result.exit_code == 2
    assert "either --scp (delegated) or --roles (application)" in result.output
