"""Access tokens in the JWT compact form: test tokens made (:func:`make_token`) and any token's
claims read (:func:`read_claims`), with PyJWT.

The mock checks no signature unless asked to (``Config.verify_tokens``). Tokens made here are
signed with HS256 and the fixed, public :data:`SIGNING_KEY` only so that they look like real
ones to tools that expect three non-empty parts; anyone can mint them, so they prove nothing
outside the mock.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import jwt

if TYPE_CHECKING:
    from jwt.types import Options

#: The audience of Graph tokens: v1 tokens use the URL, v2 tokens the resource app id.
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES: frozenset[str] = frozenset({GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", GRAPH_APP_ID})
#: Not a secret: published so that anyone may check the HS256 signature of a test token.
SIGNING_KEY = "mockgraph-test-tokens-are-not-secret"
#: The tenant id the test tokens claim (a fixed, made-up one).
TEST_TENANT = "00000000-0000-0000-0000-00000000b2c0"
TEST_APP = "00000000-0000-0000-0000-00000000a99d"


class MalformedToken(ValueError):
    """A token in JWT form (three dot-separated parts) that does not decode, or whose claims
    the mock reads have the wrong type; the message never quotes the token."""


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

    ``scp`` are delegated permissions (a space-separated string or an iterable, sent as one
    space-separated ``scp`` claim); ``roles`` application permissions (sent as a list). Give
    either, both or neither (a token with neither gets 403 from every operation). The token
    expires ``expires_in`` seconds after ``now`` (default: the wall clock; pass the mock's
    clock when it is fixed); a negative ``expires_in`` makes an already expired token, ``None``
    one without ``exp``. ``claims`` are added last and win over the ones above.
    """
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
        # An already expired token was valid once: never valid from after it expires.
        payload["nbf"] = min(issued, payload["exp"])
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
    are checked too. Raises :class:`MalformedToken` when it does not decode or verify, or when
    a claim the mock reads (``exp``, ``nbf``, ``iat``, ``scp``, ``roles``, ``aud``) has the
    wrong type: a lifetime must be a finite number, ``nbf`` no later than ``exp``."""
    # The lifetime is checked by the mock's clock (``auth.check_claims``), never PyJWT's.
    try:
        if key is None:
            unverified: Options = {
                "verify_signature": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            }
            claims = jwt.decode(token, options=unverified)
        else:
            verified: Options = {
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": audience is not None,
            }
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=list(audience) if audience is not None else None,
                options=verified,
            )
    except jwt.InvalidAudienceError:
        raise MalformedToken("it is not meant for Microsoft Graph") from None
    except jwt.InvalidSignatureError:
        raise MalformedToken("its signature does not verify") from None
    except (jwt.PyJWTError, ValueError, RecursionError):
        raise MalformedToken("it does not decode") from None
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and not _finite(value):
            raise MalformedToken(f"the '{name}' claim is not a finite number")
    if claims.get("nbf") is not None and claims.get("exp") is not None:
        if claims["nbf"] > claims["exp"]:
            raise MalformedToken("its 'nbf' is later than its 'exp'")
    if not isinstance(claims.get("scp", ""), str):
        raise MalformedToken("the 'scp' claim is not a string")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise MalformedToken("the 'roles' claim is not a list of strings")
    aud = claims.get("aud", "")
    if not isinstance(aud, str) and not (
        isinstance(aud, list) and all(isinstance(a, str) for a in aud)
    ):
        raise MalformedToken("the 'aud' claim is not a string")
    return claims


def _finite(value: Any) -> bool:
    """Whether a claim is a JSON number a double holds: ``NaN``, ``1e400`` and an integer
    literal as large are not (a NumericDate is a number of seconds, RFC 7519)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double
        return False
