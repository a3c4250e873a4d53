"""The key-set state file format: read, validate and write the JSON that ``--state``, the control
API's ``/_mockgraph/state``, the pytest marker and durable state all share; and the start-up
seeding of ``--state``.

The format (stable; version it before changing it)::

    {"keySets": [{"id": "B2C_1A_signing",
                  "keys": [{"kid": "k1", "kty": "oct", "use": "sig", "k": "c2VjcmV0",
                            "nbf": 1700000000, "exp": 1900000000, "status": "enabled"}]}]}

``keySets`` is the only top-level member. Each key set has an ``id`` (the ``B2C_1A_`` prefix is
added when missing, as the create operation does) and ``keys``, a list of trustFrameworkKey
objects with every member the store keeps, secrets (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``,
``qi``) included, plus the keys_v2 ``status``. Unknown members, wrong types, duplicate ids
(compared case-insensitively, as the store does) and values left redacted by a redacted dump are
errors: a file is loaded whole or not at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from mockgraph.features.atomic import write_atomically
from mockgraph.features.redact import REDACTED
from mockgraph.http.errors import StartupError
from mockgraph.http.parsing import ID_PATTERN, JsonProblem, strict_json, with_prefix
from mockgraph.resources.keysets.models import KEY_FIELDS, Key, KeySet
from mockgraph.resources.keysets.store import id_key
from mockgraph.state import MockGraph

#: ``state.services`` name of the key sets loaded at start (``Config.state``).
SEED = "seed"
#: The only top-level member of a state document.
TOP = "keySets"
#: Key members that hold a list of strings, or an integer; the others hold a string.
_LIST_MEMBERS = frozenset({"x5c"})
_INT_MEMBERS = frozenset({"nbf", "exp"})
_STATUSES = ("enabled", "disabled")
#: Every member a key may have in a state file.
KEY_MEMBERS: tuple[str, ...] = (*KEY_FIELDS, "status")
_INT64 = (-(2**63), 2**63 - 1)


class InvalidState(StartupError):
    """A state document that cannot be loaded; the message names where and what."""


def install(app: Flask, state: MockGraph) -> None:
    """With ``Config.state`` (``mockgraph serve --state FILE``): load the file into the store
    and keep its key sets in ``state.services["seed"]``, so a reset returns to them. Raises
    :class:`InvalidState` for a bad file (the app is then not created)."""
    if state.config.state is None:
        return
    seed = load_state(state.config.state)
    state.services[SEED] = seed
    state.store.load(seed)


def seed_of(state: MockGraph) -> list[KeySet]:
    """The key sets the app started with (empty without ``Config.state``)."""
    seed: list[KeySet] = state.services.get(SEED, [])
    return seed


def load_state(path: str | os.PathLike[str]) -> list[KeySet]:
    """The key sets of the state file at ``path``.

    Raises :class:`InvalidState` (a :class:`~mockgraph.http.errors.StartupError`) naming the file
    and the problem: missing, unreadable, not UTF-8, not JSON, or not in the format above.
    """
    where = f"state file {os.fspath(path)!r}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidState(f"{where} does not exist") from None
    except IsADirectoryError:
        raise InvalidState(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidState(f"{where} cannot be read: {exc.strerror}") from None
    return parse_state(decode(data, where), where)


def decode(data: bytes, where: str) -> Any:
    """UTF-8 JSON bytes -> a value; raises :class:`InvalidState` naming ``where``."""
    try:
        return strict_json(data, encoding="utf-8-sig")
    except JsonProblem as problem:
        raise InvalidState(f"{where} {problem}") from None


def parse_state(document: Any, where: str = "the state") -> list[KeySet]:
    """The key sets of a decoded state document; raises :class:`InvalidState` with a message
    ``"<where>: <path>: <problem>"``. Never quotes a key's value (it may be a secret)."""
    if not isinstance(document, dict):
        raise InvalidState(f'{where}: must be a JSON object with a "{TOP}" list')
    unknown = sorted(set(document) - {TOP})
    if unknown:
        raise InvalidState(f"{where}: unknown member {unknown[0]!r} (only {TOP!r} is allowed)")
    items = document.get(TOP)
    if not isinstance(items, list):
        raise InvalidState(f'{where}: "{TOP}" must be a list of key sets')
    keysets: list[KeySet] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        at = f"{TOP}[{index}]"
        keyset = _keyset(item, at, where)
        first = seen.setdefault(id_key(keyset.id), index)
        if first != index:
            raise InvalidState(
                f"{where}: {at}.id: duplicate id {keyset.id!r} (also {TOP}[{first}]; "
                "ids compare case-insensitively)"
            )
        keysets.append(keyset)
    return keysets


def _keyset(item: Any, at: str, where: str) -> KeySet:
    if not isinstance(item, dict):
        raise InvalidState(f"{where}: {at}: must be an object with an id and keys")
    unknown = sorted(set(item) - {"id", "keys"})
    if unknown:
        raise InvalidState(f"{where}: {at}.{unknown[0]}: unknown member of a key set")
    keyset_id = item.get("id")
    if not isinstance(keyset_id, str):
        raise InvalidState(f"{where}: {at}.id: is required and must be a string")
    if not ID_PATTERN.match(keyset_id):
        raise InvalidState(
            f"{where}: {at}.id: {keyset_id!r} is not a valid key set id "
            "(1-256 letters, digits, '_', '.', '-')"
        )
    keys = item.get("keys")
    if keys is None:
        keys = []
    if not isinstance(keys, list):
        raise InvalidState(f"{where}: {at}.keys: must be a list of keys")
    return KeySet(
        id=with_prefix(keyset_id),
        keys=tuple(_key(key, f"{at}.keys[{i}]", where) for i, key in enumerate(keys)),
    )


def _key(item: Any, at: str, where: str) -> Key:
    if not isinstance(item, dict):
        raise InvalidState(f"{where}: {at}: must be an object (a JSON Web Key)")
    values: dict[str, Any] = {}
    for name, value in item.items():
        here = f"{where}: {at}.{name}"
        if name not in KEY_MEMBERS:
            raise InvalidState(f"{here}: unknown member of a key")
        if value is None:
            continue
        if value == REDACTED or (isinstance(value, list) and REDACTED in value):
            raise InvalidState(
                f"{here}: is redacted; dump the state with its secrets to get a file that loads"
            )
        if name in _INT_MEMBERS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidState(f"{here}: must be an integer (seconds since the epoch)")
            if not _INT64[0] <= value <= _INT64[1]:
                raise InvalidState(f"{here}: is out of range")
        elif name in _LIST_MEMBERS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidState(f"{here}: must be a list of strings")
            value = tuple(value)
        elif not isinstance(value, str):
            raise InvalidState(f"{here}: must be a string")
        elif name == "status" and value not in _STATUSES:
            raise InvalidState(f"{here}: must be one of {', '.join(_STATUSES)}")
        values[name] = value
    return Key(**values)


def state_document(keysets: Iterable[KeySet]) -> dict[str, Any]:
    """The state document of ``keysets``, secrets included (see :func:`dump_state`)."""
    return {TOP: [keyset.to_state() for keyset in keysets]}


def dump_state(keysets: Iterable[KeySet]) -> str:
    """The state file text of ``keysets``: secrets included, two-space indents, a final
    newline; :func:`parse_state` of it gives the same key sets back."""
    return json.dumps(state_document(keysets), indent=2, ensure_ascii=False) + "\n"


def write_state(path: str | os.PathLike[str], keysets: Iterable[KeySet]) -> None:
    """Write ``keysets`` to ``path`` atomically (a temporary file in the same folder,
    ``fsync``-ed, then a rename), so neither a reader nor a crash ever sees half a file. The
    file holds secrets: it is created readable by its owner only. Raises ``OSError`` when the
    folder is not writable."""
    write_atomically(Path(path), dump_state(keysets))
