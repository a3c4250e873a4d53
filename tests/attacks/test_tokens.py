"""Impossible tokens against the served mock: bearer JWTs whose lifetime is NaN, infinite,
huge, nested or inverted, whose claims have the wrong types or a lone surrogate, and client
assertions of the sign-in authority with such lifetimes. Each gets a 401 (Graph's body, or
OAuth's at the token endpoint) and nothing changes.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from attacks.served import KEYSETS, Served, check_refused
from attacks.targets import jwt_of

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(b'{"exp": NaN}', id="exp-NaN"),
        pytest.param(b'{"exp": 1e400}', id="exp-1e400"),
        pytest.param(b'{"exp": -Infinity}', id="exp-minus-infinity"),
        pytest.param(b'{"nbf": 1' + b"0" * 400 + b"}", id="nbf-400-digits"),
        pytest.param(b'{"nbf": 2000000000, "exp": 1999999999}', id="nbf-after-exp"),
        pytest.param(b'{"iat": "soon"}', id="iat-a-string"),
        pytest.param(b'{"exp": ' + b"[" * 3000 + b"]" * 3000 + b"}", id="exp-nested-3000"),
        pytest.param(b'{"roles": [1]}', id="roles-not-strings"),
    ],
)
def test_a_token_with_impossible_claims_is_a_graph_401_and_changes_nothing(
    served: Served, claims: bytes
) -> None:
    token = "Bearer " + jwt_of(claims)
    answer = check_refused(
        served,
        lambda: served.request("POST", KEYSETS, json_body={"id": "Tokened"}, token=token),
        must_refuse=True,
    )
    assert answer is not None and answer.status == 401, answer.text()


def test_a_token_whose_permission_is_a_lone_surrogate_grants_nothing(served: Served) -> None:
    # PyJWT reads claims with the standard library, which takes lone surrogates: such a claim
    # must still never grant a permission (nor be echoed anywhere).
    for claims in (b'{"scp": "\\ud800"}', b'{"scp": "TrustFrameworkKeySet.ReadWrite.All\\udc00"}'):
        token = "Bearer " + jwt_of(claims)
        answer = check_refused(
            served,
            lambda token=token: served.request(
                "POST", KEYSETS, json_body={"id": "Tokened"}, token=token
            ),
            must_refuse=True,
        )
        assert answer is not None and answer.status in (401, 403), answer.text()


@pytest.mark.parametrize(
    "times",
    [
        pytest.param(b'"exp": NaN', id="exp-NaN"),
        pytest.param(b'"exp": 1e400', id="exp-1e400"),
        pytest.param(b'"exp": 99999999999, "nbf": 999999999999', id="nbf-after-exp"),
        pytest.param(b'"exp": 99999999999, "nbf": NaN', id="nbf-NaN"),
    ],
)
def test_a_client_assertion_with_impossible_times_gets_no_token(
    served: Served, times: bytes
) -> None:
    # The sign-in authority reads a client assertion's lifetime as Graph reads a token's.
    endpoint = f"{served.root}/common/oauth2/v2.0/token"
    claims = b'{"iss": "app", "sub": "app", "aud": "' + endpoint.encode() + b'", ' + times + b"}"
    assertion = jwt_of(claims)
    form = (
        "grant_type=client_credentials&client_id=app&client_assertion=" + assertion
        + "&scope=" + quote("https://graph.microsoft.com/.default", safe="")
    ).encode()  # fmt: skip
    answer = check_refused(
        served,
        lambda: served.request(
            "POST",
            "/common/oauth2/v2.0/token",
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
            token=None,
        ),  # fmt: skip
        must_refuse=True,
    )
    assert answer is not None and answer.status == 401, answer.text()
    assert answer.json()["error"] == "invalid_client"
