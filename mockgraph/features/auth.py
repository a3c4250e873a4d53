"""Who may call: the ``Authorization: Bearer`` header Graph requires on every request, and the
permissions a JWT carries in ``scp`` (delegated) and ``roles`` (application).

The permissions each operation accepts come from its contract (the permission table of its doc
page); an operation whose page lists none gets what every documented operation of its kind
(reads or writes) has in common. The OpenAPI document shows the same table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import request

from mockgraph.config import BASE_PATH
from mockgraph.features.tokens import GRAPH_AUDIENCES, MalformedToken, looks_like_jwt, read_claims
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import AccessDenied, Unauthenticated
from mockgraph.http.facts import facts
from mockgraph.http.routing import Operation

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

log = logging.getLogger("mockgraph")

#: The contract's permission lists the mock checks; personal Microsoft accounts are never
#: supported by these APIs, and a token cannot tell them apart anyway.
DELEGATED = "delegatedWork"
APPLICATION = "application"
#: How many tokens' claims an app remembers: a client sends the same token on every call.
CLAIMS_KEPT = 64


@dataclass(frozen=True)
class Permissions:
    """What one operation accepts: any one of ``delegated`` in ``scp``, or of ``application``
    in ``roles``. ``inferred`` says its doc page listed none and these were derived."""

    delegated: frozenset[str]
    application: frozenset[str]
    inferred: bool = False

    def allow(self, scopes: Iterable[str], roles: Iterable[str]) -> bool:
        return bool(self.delegated & set(scopes)) or bool(self.application & set(roles))


def permission_table(
    operations: Iterable[Operation], contracts: Contracts
) -> dict[str, Permissions]:
    """Every operation's :class:`Permissions`, read from its contract (see the module)."""

    def listed(op: Operation, kind: str) -> frozenset[str]:
        contract = contracts.get(op.id) if op.contract else None
        values: Sequence[str] = contract.permissions.get(kind, ()) if contract else ()
        return frozenset(values)

    ops = list(operations)
    documented = [op for op in ops if listed(op, DELEGATED) or listed(op, APPLICATION)]
    table: dict[str, Permissions] = {}
    for op in ops:
        if op in documented:
            table[op.id] = Permissions(listed(op, DELEGATED), listed(op, APPLICATION))
            continue
        pool = [d for d in documented if d.reads == op.reads] or documented

        def common(kind: str, pool: list[Operation] = pool) -> frozenset[str]:
            sets = [listed(d, kind) for d in pool]
            return frozenset.intersection(*sets) if sets else frozenset()

        table[op.id] = Permissions(common(DELEGATED), common(APPLICATION), inferred=True)
        if not table[op.id].delegated and not table[op.id].application:
            log.warning("no permission is known for %s: any JWT may call it", op.id)
    return table


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
    if claims.get("exp") is not None and claims["exp"] <= now:
        raise Unauthenticated("Lifetime validation failed, the token is expired.")
    if claims.get("nbf") is not None and claims["nbf"] > now:
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
    if not needed.allow(scopes, claims.get("roles", [])):
        raise AccessDenied(_needed(operation or "", needed, claims))


def _needed(operation: str, needed: Permissions, claims: Mapping[str, Any]) -> str:
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


class ClaimsMemo:
    """:func:`read_claims` remembered for the last :data:`CLAIMS_KEPT` tokens (forgets all when
    full); malformed tokens are never remembered. Tokens are kept in memory only."""

    def __init__(self, key: Any = None) -> None:
        self._key = key
        self._claims: dict[str, Mapping[str, Any]] = {}

    @property
    def verifies(self) -> bool:
        """Whether signatures and audiences are checked (a key was given)."""
        return self._key is not None

    def __call__(self, token: str) -> Mapping[str, Any]:
        claims = self._claims.get(token)
        if claims is None:
            audience = GRAPH_AUDIENCES if self._key is not None else None
            claims = read_claims(token, key=self._key, audience=audience)
            if len(self._claims) >= CLAIMS_KEPT:
                self._claims.clear()
            self._claims[token] = claims
        return claims


def authenticate(mock: MockGraph) -> None:
    """The request step: every Graph request (CORS preflights excepted) carries a bearer
    token; a JWT must be well-formed, current by the mock's clock and, unless permission checks
    are off, meant for Graph and holding a permission of the operation. With
    ``Config.verify_tokens`` only JWTs are taken, and only when the claims memo has the key to
    check their signature."""
    # A preflight carries no token; $metadata is read before signing in (as on Graph).
    if request.method == "OPTIONS" or request.endpoint == "metadata":
        return
    if not request.path.startswith(BASE_PATH + "/"):
        return
    token = bearer_token(request.environ.get("HTTP_AUTHORIZATION"))
    config = mock.config
    if not looks_like_jwt(token):
        if config.require_jwt or config.verify_tokens:
            raise Unauthenticated("The access token must be a JWT.")
        return
    if config.verify_tokens and not mock.claims.verifies:
        # Anyone can mint a JWT the mock cannot check: refuse it rather than trust it.
        raise Unauthenticated(
            "The access token is not valid: the mock has no authority key to check its signature."
        )
    try:
        claims = mock.claims(token)
    except MalformedToken as exc:
        raise Unauthenticated(f"The access token is not valid: {exc}.") from None
    operation = facts().operation
    check_claims(
        claims,
        now=mock.clock.now(),
        operation=operation.id if operation else None,
        table=mock.permissions if config.check_permissions else None,
    )
