"""Who may call: the ``Authorization: Bearer`` header Graph requires on every request, and the
permissions a JWT bearer token carries in ``scp`` (delegated) and ``roles`` (application).

The permissions each operation needs come from its contract (generated from the permission
table of its doc page), never from a table in this module. Signatures are not verified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request

from mockgraph.config import BASE_PATH
from mockgraph.features.tokens import GRAPH_AUDIENCES, MalformedToken, looks_like_jwt, read_jwt
from mockgraph.http.contracts import Contract
from mockgraph.http.errors import AccessDenied, Unauthenticated
from mockgraph.resources.keysets import views as routes
from mockgraph.state import MockGraph

log = logging.getLogger("mockgraph")

SERVICE = "auth"
#: The contract's permission lists the mock checks; personal Microsoft accounts are never
#: supported by these APIs, and a token cannot tell them apart anyway.
DELEGATED = "delegatedWork"
APPLICATION = "application"


@dataclass(frozen=True)
class Permissions:
    """What one operation accepts: any one of ``delegated`` in ``scp``, or of ``application``
    in ``roles``. ``inferred`` says the contract listed none and these were derived."""

    delegated: frozenset[str]
    application: frozenset[str]
    inferred: bool = False

    def allow(self, scopes: Iterable[str], roles: Iterable[str]) -> bool:
        return bool(self.delegated & set(scopes)) or bool(self.application & set(roles))


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises :class:`Unauthenticated`."""
    if not header or not header.strip():
        raise Unauthenticated("Access token is empty.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("The Authorization header must use the Bearer scheme.")
    if not token.strip():
        raise Unauthenticated("Access token is empty.")
    return token.strip()


def _is_read(contract: Contract) -> bool:
    return contract.method.upper() in {"GET", "HEAD"}


def _listed(contract: Contract, kind: str) -> frozenset[str]:
    values: Sequence[str] = contract.permissions.get(kind, ())
    return frozenset(values)


def permission_table(contracts: Mapping[str, Contract]) -> dict[str, Permissions]:
    """Every operation's :class:`Permissions`, read from its contract.

    A contract whose page lists no permission at all (``updateKeyV2``: its page only includes
    a table that is not among the docs) gets what every documented operation of its kind
    (reads: GET; writes: anything else) has in common, so a write needs what all writes need;
    with no documented operation of its kind, what all documented operations have in common.
    """
    documented = {
        op: c for op, c in contracts.items() if _listed(c, DELEGATED) or _listed(c, APPLICATION)
    }

    def common(kind: str, pool: Iterable[Contract]) -> frozenset[str]:
        sets = [_listed(c, kind) for c in pool]
        return frozenset.intersection(*sets) if sets else frozenset()

    table: dict[str, Permissions] = {}
    for op, contract in contracts.items():
        if op in documented:
            table[op] = Permissions(_listed(contract, DELEGATED), _listed(contract, APPLICATION))
            continue
        pool = [c for c in documented.values() if _is_read(c) == _is_read(contract)]
        pool = pool or list(documented.values())
        table[op] = Permissions(common(DELEGATED, pool), common(APPLICATION, pool), inferred=True)
        if not table[op].delegated and not table[op].application:
            log.warning("no permission is known for %s: any JWT may call it", op)
    return table


def _needed_message(operation: str, needed: Permissions, claims: Mapping[str, Any]) -> str:
    parts = []
    if needed.delegated and ("scp" in claims or "roles" not in claims):
        parts.append("one of the delegated permissions " + ", ".join(sorted(needed.delegated)))
    if needed.application and ("roles" in claims or "scp" not in claims):
        parts.append("one of the application permissions " + ", ".join(sorted(needed.application)))
    wanted = " or ".join(parts) or "a permission type the operation does not support"
    return (
        f"Insufficient privileges to complete the operation: {operation} needs {wanted} "
        "in the access token."
    )


def check_claims(
    claims: Mapping[str, Any],
    *,
    now: float,
    operation: str | None,
    table: Mapping[str, Permissions] | None,
) -> None:
    """Raise :class:`Unauthenticated` for a token expired or not yet valid at ``now`` or meant
    for another audience, :class:`AccessDenied` when it lacks every permission ``operation``
    accepts. ``table`` ``None`` skips the audience and permission checks."""
    exp = claims.get("exp")
    if exp is not None and exp <= now:
        raise Unauthenticated("Lifetime validation failed, the token is expired.")
    nbf = claims.get("nbf")
    if nbf is not None and nbf > now:
        raise Unauthenticated("Lifetime validation failed, the token is not yet valid.")
    if table is None:
        return
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    if aud is not None and not GRAPH_AUDIENCES.intersection(audiences):
        raise Unauthenticated("Invalid audience: the token is not meant for Microsoft Graph.")
    needed = table.get(operation or "")
    if needed is None:
        return
    scopes = str(claims.get("scp", "")).split()
    roles = [str(r) for r in claims.get("roles", [])]
    if not needed.allow(scopes, roles):
        raise AccessDenied(_needed_message(operation or "", needed, claims))


def authenticate(
    header: str | None,
    *,
    now: float,
    operation: str | None,
    table: Mapping[str, Permissions] | None,
    require_jwt: bool = False,
) -> None:
    """The whole check of one request's ``Authorization`` header: a bearer token; if it is a
    JWT, well-formed, current and (``table`` given) holding a permission of ``operation``; if
    it is opaque, allowed unless ``require_jwt``."""
    check_token(
        bearer_token(header), now=now, operation=operation, table=table, require_jwt=require_jwt
    )


def check_token(
    token: str,
    *,
    now: float,
    operation: str | None,
    table: Mapping[str, Permissions] | None,
    require_jwt: bool = False,
    read: Callable[[str], Mapping[str, Any]] = read_jwt,
) -> None:
    """:func:`authenticate` of a bearer token already taken from its header; ``read`` gives
    a JWT's claims or raises :class:`MalformedToken` (:func:`read_jwt`, or a memo of it)."""
    if not looks_like_jwt(token):
        if require_jwt:
            raise Unauthenticated("The access token must be a JWT.")
        return
    try:
        claims = read(token)
    except MalformedToken as exc:
        raise Unauthenticated(f"The access token is not a well-formed JWT: {exc}.") from None
    check_claims(claims, now=now, operation=operation, table=table)


#: How many tokens' claims an app remembers (:class:`ClaimsMemo`).
CLAIMS_KEPT = 64


class ClaimsMemo:
    """:func:`read_jwt` remembered for the last tokens seen: a client sends the same token on
    every call, and decoding it (base64 and JSON) costs ~13 us, a tenth of a get (issue 6).
    Bounded (forgets everything when full); the claims it gives are shared, read them only.
    Malformed tokens are not remembered: they raise each time. The tokens are kept in memory
    only, as the request itself holds them, never logged."""

    def __init__(self, size: int = CLAIMS_KEPT) -> None:
        self._size = size
        self._claims: dict[str, Mapping[str, Any]] = {}

    def __call__(self, token: str) -> Mapping[str, Any]:
        claims = self._claims.get(token)
        if claims is None:
            claims = read_jwt(token)
            if len(self._claims) >= self._size:
                self._claims.clear()
            self._claims[token] = claims
        return claims


def install(app: Flask, state: MockGraph) -> None:
    """Check the bearer token of every Graph request (CORS preflights excepted). The
    permission table is built here, once; it is kept in ``state.services["auth"]``."""
    if not state.config.require_auth:
        return
    table = permission_table(state.contracts)
    state.services[SERVICE] = table
    checked = table if state.config.check_permissions else None
    require_jwt = state.config.require_jwt
    claims_of = ClaimsMemo()
    prefix = BASE_PATH + "/"

    def _authenticate(req: Request, facts: object) -> None:
        if req.method == "OPTIONS" or not req.path.startswith(prefix):
            return None
        token = bearer_token(req.environ.get("HTTP_AUTHORIZATION"))
        if not looks_like_jwt(token) and not require_jwt:
            return None  # an opaque token: nothing more to check (as check_token decides)
        check_token(
            token,
            now=state.store.now(),
            operation=routes.operation_of(req),
            table=checked,
            require_jwt=require_jwt,
            read=claims_of,
        )
        return None

    state.before.append(_authenticate)
