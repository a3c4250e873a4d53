"""Plain data of the mocked resource: trustFrameworkKeySet and trustFrameworkKey.

No Flask and no I/O here: the store keeps these, parsing makes them, rendering reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

#: JWK members that the resource page says "cannot be read back": stored, never rendered.
SECRET_FIELDS: frozenset[str] = frozenset({"k", "d", "p", "q", "dp", "dq", "qi"})

#: Key set ids become URL segments (``/keySets/{id}``, ``/keySets('{id}')``). The docs never say
#: which characters B2C allows; these are those of its portal's key names, and no more. The
#: request contracts (``mockgraph contracts build``) and the parser both use this one pattern.
KEYSET_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,256}$"

#: Every member of trustFrameworkKey, in the order the resource page lists them.
KEY_FIELDS: tuple[str, ...] = (
    "kid", "kty", "use", "x5c", "x5t", "e", "d", "n", "p", "q", "dp", "dq", "qi", "k", "nbf", "exp",
)  # fmt: skip


#: The members rendered in answers, in the resource page's order.
_READABLE: tuple[str, ...] = tuple(name for name in KEY_FIELDS if name not in SECRET_FIELDS)


@dataclass(frozen=True, slots=True)
class Key:
    """One JSON Web Key of a key set (RFC 7517 section 4), as Graph's trustFrameworkKey."""

    kid: str | None = None
    kty: str | None = None
    use: str | None = None
    x5c: tuple[str, ...] | None = None
    x5t: str | None = None
    e: str | None = None
    d: str | None = None
    n: str | None = None
    p: str | None = None
    q: str | None = None
    dp: str | None = None
    dq: str | None = None
    qi: str | None = None
    k: str | None = None
    nbf: int | None = None
    exp: int | None = None
    #: keys_v2 status (enabled / disabled); not a member of the v1 trustFrameworkKey.
    status: str | None = None

    def public(self) -> dict[str, Any]:
        """The members that may be read back, without secrets and without unset ones."""
        out = {name: value for name in _READABLE if (value := getattr(self, name)) is not None}
        if "x5c" in out:
            out["x5c"] = list(out["x5c"])
        return out

    def to_state(self) -> dict[str, Any]:
        """Every member that is set, secrets included: for state dumps, never for answers."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if f.name == "x5c" else value
        return out

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Key:
        """Inverse of :meth:`to_state`; unknown members raise ``TypeError``."""
        values = dict(data)
        if values.get("x5c") is not None:
            values["x5c"] = tuple(values["x5c"])
        return cls(**values)

    def with_status(self, status: str) -> Key:
        return replace(self, status=status)

    def is_active_at(self, now: int) -> bool:
        """True when ``nbf <= now < exp``; a missing bound is open."""
        if self.nbf is not None and now < self.nbf:
            return False
        return not (self.exp is not None and now >= self.exp)


@dataclass(frozen=True, slots=True)
class KeySet:
    """A trustFrameworkKeySet: an id and its keys. Immutable: the store swaps whole values."""

    id: str
    keys: tuple[Key, ...] = field(default_factory=tuple)

    def to_state(self) -> dict[str, Any]:
        return {"id": self.id, "keys": [k.to_state() for k in self.keys]}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> KeySet:
        return cls(id=data["id"], keys=tuple(Key.from_state(k) for k in data.get("keys") or ()))
