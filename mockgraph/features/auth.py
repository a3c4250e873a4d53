"""Who may call: the bearer token Graph requires on every request, and the permissions a JWT
carries in ``scp`` and ``roles``, checked against those each operation's contract lists (an
operation whose doc page lists none gets what its documented kind, reads or writes, shares)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Request

from mockgraph.config import BASE_PATH
from mockgraph.features.tokens import GRAPH_AUDIENCES, MalformedToken, looks_like_jwt
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import AccessDenied, Unauthenticated
from mockgraph.http.facts import Facts
from mockgraph.http.routing import Operation

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

log = logging.getLogger("mockgraph")

#: The contract's permission lists the mock checks (personal Microsoft accounts are never
#: supported by these APIs).
DELEGATED = "delegatedWork"
APPLICATION = "application"


@dataclass(frozen=True)
class Permissions:
    """What one operation accepts: any one of ``delegated`` in ``scp``, or of ``application``
    in ``roles``. ``inferred``: its doc page listed none and these were derived."""

    delegated: frozenset[str]
    application: frozenset[str]
    inferred: bool = False


def permission_table(
    operations: Iterable[Operation], contracts: Contracts
) -> dict[str, Permissions]:
    """Every operation's :class:`Permissions`, read from its contract (see the module)."""
    listed: list[tuple[Operation, Permissions]] = []
    for op in operations:
        contract = contracts.get(op.id) if op.contract else None
        kinds = contract.permissions if contract else {}
        found = Permissions(
            frozenset(kinds.get(DELEGATED, ())), frozenset(kinds.get(APPLICATION, ()))
        )
        listed.append((op, found))
    documented = [(o, p) for o, p in listed if p.delegated or p.application]
    table: dict[str, Permissions] = {}
    for op, permissions in listed:
        if not (permissions.delegated or permissions.application):
            pool = [p for o, p in documented if o.reads == op.reads] or [p for _, p in documented]
            permissions = Permissions(
                frozenset.intersection(*(p.delegated for p in pool)) if pool else frozenset(),
                frozenset.intersection(*(p.application for p in pool)) if pool else frozenset(),
                inferred=True,
            )
            if not (permissions.delegated or permissions.application):
                log.warning("no permission is known for %s: any JWT may call it", op.id)
        table[op.id] = permissions
    return table


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises :class:`Unauthenticated`."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme and scheme.lower() != "bearer":
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
    if aud is not None and not GRAPH_AUDIENCES.intersection([aud] if isinstance(aud, str) else aud):
        raise Unauthenticated("Invalid audience: the token is not meant for Microsoft Graph.")
    needed = table.get(operation or "")
    if needed is None:
        return
    if needed.delegated & set(str(claims.get("scp", "")).split()):
        return
    if needed.application & set(claims.get("roles", [])):
        return
    parts = []
    if needed.delegated and ("scp" in claims or "roles" not in claims):
        parts.append("one of the delegated permissions " + ", ".join(sorted(needed.delegated)))
    if needed.application and ("roles" in claims or "scp" not in claims):
        parts.append("one of the application permissions " + ", ".join(sorted(needed.application)))
    wanted = " or ".join(parts) or "a permission type the operation does not support"
    raise AccessDenied(
        f"Insufficient privileges to complete the operation: {operation} needs {wanted} "
        "in the access token."
    )


def authenticate(mock: MockGraph, req: Request, known: Facts) -> None:
    """The request step: every Graph request (CORS preflights and ``$metadata`` excepted)
    carries a bearer token; a JWT must be well-formed, current by the mock's clock and, unless
    permission checks are off, meant for Graph and holding a permission of the operation.
    With ``Config.verify_tokens`` only JWTs the mock's authority signed are taken."""
    if req.method == "OPTIONS" or req.endpoint == "metadata":
        return
    if not req.path.startswith(BASE_PATH + "/"):
        return
    token = bearer_token(req.environ.get("HTTP_AUTHORIZATION"))
    config = mock.config
    if not looks_like_jwt(token):
        if config.require_jwt or config.verify_tokens:
            raise Unauthenticated("The access token must be a JWT.")
        return
    try:
        claims = mock.claims(token)
    except MalformedToken as exc:
        raise Unauthenticated(f"The access token is not valid: {exc}.") from None
    operation = known.operation
    check_claims(
        claims,
        now=mock.clock.now(),
        operation=operation.id if operation else None,
        table=mock.permissions if config.check_permissions else None,
    )
