"""Test access tokens: the JWT compact form, made (:func:`make_token`) and read (:func:`read_jwt`).

The mock never verifies a signature. Tokens made here are signed with HS256 and the fixed,
public :data:`SIGNING_KEY` only so that they look like real ones to tools that expect three
non-empty parts; anyone can mint them, so they prove nothing outside the mock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

#: The audience of Graph tokens: v1 tokens use the URL, v2 tokens the resource app id.
GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_AUDIENCES: frozenset[str] = frozenset(
    {GRAPH_AUDIENCE, GRAPH_AUDIENCE + "/", "00000003-0000-0000-c000-000000000000"}
)
#: Not a secret: published so that anyone may check the HS256 signature of a test token.
SIGNING_KEY = b"mockgraph-test-tokens-are-not-secret"
#: The tenant id the test tokens claim (a fixed, made-up one).
TEST_TENANT = "00000000-0000-0000-0000-00000000b2c0"

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class MalformedToken(ValueError):
    """A token in JWT form (three dot-separated parts) whose parts do not decode."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str, what: str) -> bytes:
    if not _B64URL.match(part):
        raise MalformedToken(f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken(f"the {what} is not base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise MalformedToken(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    return value


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
        "tid": TEST_TENANT,
        "appid": "00000000-0000-0000-0000-00000000a99d",
        "uti": uuid.uuid4().hex,
    }
    if expires_in is not None:
        payload["exp"] = issued + int(expires_in)
    if scp is not None:
        payload["scp"] = scp if isinstance(scp, str) else " ".join(scp)
    if roles is not None:
        payload["roles"] = list(roles)
    payload.update(claims or {})
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        _b64encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
    )
    signature = hmac.new(SIGNING_KEY, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64encode(signature)}"


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the JWT compact form (three dot-separated parts); anything else
    is an opaque token."""
    return token.count(".") == 2


def read_jwt(token: str) -> dict[str, Any]:
    """The claims of a JWT, signature NOT verified. Raises :class:`MalformedToken` when a part
    is not base64url, the header or payload is not a JSON object, or a claim the mock reads
    (``exp``, ``nbf``, ``scp``, ``roles``, ``aud``) has the wrong type. The message never
    quotes the token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("a JWT has three dot-separated parts")
    header_part, payload_part, signature_part = parts
    if not header_part or not payload_part:
        raise MalformedToken("the header or payload is empty")
    _json_object(_b64decode(header_part, "header"), "header")
    claims = _json_object(_b64decode(payload_part, "payload"), "payload")
    _b64decode(signature_part, "signature")
    for name in ("exp", "nbf"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise MalformedToken(f"the '{name}' claim is not a number")
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
