"""Plain data of the key sets resource (trustFrameworkKeySet, trustFrameworkKey) and the rules
every key set obeys however it was made (a body, an upload, a state file). No Flask, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: JWK members that the resource page says "cannot be read back": stored, never rendered.
SECRET_FIELDS = frozenset({"k", "d", "p", "q", "dp", "dq", "qi"})
#: Key set ids become URL segments. The docs never say which characters B2C allows: these are
#: those of its portal's key names. The contract build and the parser both use this pattern.
KEYSET_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,256}$"
#: The key resource page: "The valid values are rsa, oct" (compared in any letter case).
KEY_TYPES = ("RSA", "oct")
#: keys_v2 statuses (the keys_v2 update page).
STATUSES = ("enabled", "disabled")


@dataclass(frozen=True, slots=True)
class Key:
    """One JSON Web Key of a key set (RFC 7517), Graph's trustFrameworkKey; ``status`` is the
    keys_v2 status (enabled / disabled), no member of the v1 key."""

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
    status: str | None = None

    def public(self) -> dict[str, Any]:
        """The members that may be read back: no secrets, no status, none unset."""
        return self._members(_READABLE)

    def to_state(self) -> dict[str, Any]:
        """Every member that is set, secrets included: for state files, never for answers."""
        return self._members(_ALL_FIELDS)

    def _members(self, names: tuple[str, ...]) -> dict[str, Any]:
        out = {}
        for name in names:
            if (value := getattr(self, name)) is not None:
                out[name] = list(value) if name == "x5c" else value
        return out

    def is_active_at(self, now: float) -> bool:
        """True when ``nbf <= now < exp`` and not disabled; a missing bound is open."""
        if self.status == "disabled" or (self.nbf is not None and now < self.nbf):
            return False
        return self.exp is None or now < self.exp


#: Every member of trustFrameworkKey, in the order the resource page lists them.
KEY_FIELDS = tuple(f.name for f in fields(Key) if f.name != "status")
_ALL_FIELDS = (*KEY_FIELDS, "status")
_READABLE = tuple(name for name in KEY_FIELDS if name not in SECRET_FIELDS)


@dataclass(frozen=True, slots=True)
class KeySet:
    """A trustFrameworkKeySet: an id and its keys. Immutable: the store swaps whole values."""

    id: str
    keys: tuple[Key, ...] = ()

    def to_state(self) -> dict[str, Any]:
        return {"id": self.id, "keys": [k.to_state() for k in self.keys]}


def with_prefix(keyset_id: str) -> str:
    """The id the service stores: ``B2C_1A_`` added unless present in any letter case (the
    create page's example: keyset1 -> B2C_1A_keyset1)."""
    return keyset_id if keyset_id.upper().startswith("B2C_1A_") else "B2C_1A_" + keyset_id


def key_problems(keys: tuple[Key, ...]) -> tuple[int, str, str] | None:
    """The first key that breaks a rule of key sets, as (index, member, problem): a ``kty``
    other than RSA or oct, ``nbf`` later than ``exp``, or a ``kid`` an earlier key has
    (``keys_v2/{kid}`` and ``getActiveKey`` name keys by kid)."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key.kty is not None and key.kty.lower() not in {t.lower() for t in KEY_TYPES}:
            return index, "kty", "must be one of: RSA, oct"
        if key.nbf is not None and key.exp is not None and key.nbf > key.exp:
            return index, "nbf", "must not be later than 'exp'"
        if key.kid in seen:
            return index, "kid", "is already the kid of another key of the set"
        if key.kid is not None:
            seen.add(key.kid)
    return None
