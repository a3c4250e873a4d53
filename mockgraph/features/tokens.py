"""Access tokens in the JWT compact form, with PyJWT: test tokens made (HS256 with a published
key, so they prove nothing outside the mock) and any token's claims read, its signature checked
only when a key is given (``Config.verify_tokens``)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

#: The audience of Graph tokens: v1 tokens use the URL, v2 tokens the resource app id.
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES: frozenset[str] = frozenset({GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", GRAPH_APP_ID})
#: Not a secret: published so that anyone may check the HS256 signature of a test token.
SIGNING_KEY = "mockgraph-test-tokens-are-not-secret"
#: The made-up tenant and app the test tokens claim.
TEST_TENANT = "00000000-0000-0000-0000-00000000b2c0"
TEST_APP = "00000000-0000-0000-0000-00000000a99d"


class MalformedToken(ValueError):
    """A JWT that does not decode or verify, or whose claims the mock reads have the wrong
    type; the message never quotes the token."""


def make_token(
    *,
    scp: str | Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
    expires_in: float | None = 3600,
    audience: str = GRAPH_AUDIENCE,
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A JWT access token for the mock (without the ``Bearer`` scheme).

    ``scp``: delegated permissions (a space-separated string or an iterable); ``roles``:
    application permissions. Neither gets 403 from every operation. It expires ``expires_in``
    seconds after ``now`` (default: the wall clock; negative: already expired; ``None``: no
    ``exp``). ``claims`` are added last and win."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{TEST_TENANT}/",
        "iat": issued,
        "nbf": issued,
        "tid": TEST_TENANT,
        "appid": TEST_APP,
        "uti": uuid.uuid4().hex,
    }
    if expires_in is not None:
        payload["exp"] = issued + int(expires_in)
        payload["nbf"] = min(issued, payload["exp"])  # an expired token was valid once
    if scp is not None:
        payload["scp"] = scp if isinstance(scp, str) else " ".join(scp)
    if roles is not None:
        payload["roles"] = list(roles)
    payload.update(claims or {})
    return jwt.encode(payload, SIGNING_KEY, algorithm="HS256")


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the JWT compact form (three dot-separated parts); anything else
    is an opaque token."""
    return token.count(".") == 2


def read_claims(
    token: str, *, key: Any = None, audience: Iterable[str] | None = None
) -> dict[str, Any]:
    """The claims of a JWT; with ``key``, its RS256 signature and (``audience``) its audience
    are checked too. Raises :class:`MalformedToken` when it does not decode or verify, when a
    lifetime (``exp``, ``nbf``, ``iat``) is not a finite number or ``nbf`` is later than
    ``exp``, or when ``scp``, ``roles`` or ``aud`` has the wrong type."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=None if audience is None else list(audience),
            # The lifetime is checked by the mock's clock (``auth.check_claims``).
            options={
                "verify_signature": key is not None,
                "verify_aud": key is not None and audience is not None,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise MalformedToken("it is not meant for Microsoft Graph") from None
    except jwt.InvalidSignatureError:
        raise MalformedToken("its signature does not verify") from None
    except (jwt.PyJWTError, ValueError, RecursionError):
        raise MalformedToken("it does not decode") from None
    for name in ("exp", "nbf", "iat"):
        if claims.get(name) is not None and not _finite(claims[name]):
            raise MalformedToken(f"the '{name}' claim is not a finite number")
    if claims.get("nbf") is not None and claims.get("exp") is not None:
        if claims["nbf"] > claims["exp"]:
            raise MalformedToken("its 'nbf' is later than its 'exp'")
    if not isinstance(claims.get("scp", ""), str):
        raise MalformedToken("the 'scp' claim is not a string")
    if not _strings(claims.get("roles", [])):
        raise MalformedToken("the 'roles' claim is not a list of strings")
    aud = claims.get("aud", "")
    if not (isinstance(aud, str) or _strings(aud)):
        raise MalformedToken("the 'aud' claim is not a string")
    return claims


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _finite(value: Any) -> bool:
    """Whether a claim is a number a double holds (a NumericDate, RFC 7519): not ``NaN``,
    ``1e400`` nor an integer as large."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
