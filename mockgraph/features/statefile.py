"""State documents: the JSON that ``--state``, ``--state-file``, the control API's
``/_mockgraph/state``, ``MockGraphServer.seed`` and the pytest marker share.

The format (stable; version it before changing it)::

    {"keySets": [{"id": "B2C_1A_signing",
                  "keys": [{"kid": "k1", "kty": "oct", "use": "sig", "k": "c2VjcmV0",
                            "nbf": 1700000000, "exp": 1900000000, "status": "enabled"}]}]}

One member per resource (``keySets``), each a list of items with every member the store keeps,
secrets included. Unknown members, wrong types, duplicate ids (compared case-insensitively) and
values left redacted by a redacted dump are errors: a document is loaded whole or not at all.
An empty file holds no items.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mockgraph.http.codec import JsonProblem, decode, encode
from mockgraph.http.errors import StartupError
from mockgraph.http.routing import Resource

#: A state document's items, by resource name.
Items = dict[str, list[Any]]


class InvalidState(StartupError):
    """A state document that cannot be loaded; the message names where and what."""


def parse_document(document: Any, resources: Sequence[Resource], where: str) -> Items:
    """The items of a decoded state document; raises :class:`InvalidState` with a message
    ``"<where>: <path>: <problem>"``. Never quotes a value (it may be a secret)."""
    names = [r.name for r in resources]
    if not isinstance(document, dict):
        raise InvalidState(
            f"{where}: must be a JSON object with a {' or '.join(map(repr, names))} list"
        )
    unknown = sorted(set(document) - set(names))
    if unknown:
        raise InvalidState(f"{where}: unknown member {unknown[0]!r} (allowed: {', '.join(names)})")
    items: Items = {}
    for resource in resources:
        if resource.name in document:
            try:
                items[resource.name] = resource.parse_state(document[resource.name], resource.name)
            except ValueError as exc:
                raise InvalidState(f"{where}: {exc}") from None
    return items


def load_file(path: str | os.PathLike[str], resources: Sequence[Resource]) -> Items:
    """The items of the state file at ``path``; raises :class:`InvalidState` naming the file
    and the problem: missing, unreadable, not UTF-8 JSON, or not in the format above."""
    where = f"state file {os.fspath(path)!r}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidState(f"{where} does not exist") from None
    except IsADirectoryError:
        raise InvalidState(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidState(f"{where} cannot be read: {exc.strerror}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        return {}
    try:
        document = decode(data)
    except JsonProblem as problem:
        raise InvalidState(f"{where} {problem}") from None
    return parse_document(document, resources, where)


def document(items: Mapping[str, Iterable[Any]], resources: Sequence[Resource]) -> dict[str, Any]:
    """The state document of ``items`` (by resource name), secrets included."""
    return {r.name: [r.dump_state(i) for i in items.get(r.name, ())] for r in resources}


def dump_text(state: Mapping[str, Any]) -> str:
    """The text of a state document: two-space indents, a final newline."""
    return encode(state, indent=True).decode() + "\n"


class Encoder:
    """The state file text of the items of every resource, one item per line, encoding again
    only the items that are not the very objects encoded last time (items are immutable and
    swapped whole). Not thread-safe: the store's lock guards it."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self._resources = resources
        self._lines: dict[str, dict[str, tuple[Any, str]]] = {r.name: {} for r in resources}

    def pieces(self, items: Mapping[str, Sequence[Any]]) -> list[str]:
        pieces = ["{"]
        for number, resource in enumerate(self._resources):
            known, fresh = self._lines[resource.name], {}
            for item in items.get(resource.name, ()):
                line = known.get(item.id)
                if line is None or line[0] is not item:
                    line = (item, encode(resource.dump_state(item)).decode())
                fresh[item.id] = line
            self._lines[resource.name] = fresh
            lines = [text for _, text in fresh.values()]
            pieces.append(("," if number else "") + f'\n"{resource.name}": [')
            pieces.append("\n" + ",\n".join(lines) + "\n]" if lines else "]")
        pieces.append("}\n")
        return pieces
