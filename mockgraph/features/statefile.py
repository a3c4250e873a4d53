"""State documents, the JSON that ``--state``, ``--state-file``, ``/_mockgraph/state`` and the
pytest marker share: one member per resource (``{"keySets": [...]}``), every item with all it
holds, secrets included, loaded whole or not at all."""

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
    ``"<where>: <path>: <problem>"`` that never quotes a value (it may be a secret)."""
    names = [r.name for r in resources]
    if not isinstance(document, dict):
        raise InvalidState(
            f"{where}: must be a JSON object with a {' or '.join(map(repr, names))} list"
        )
    unknown = sorted(set(document) - set(names))
    if unknown:
        raise InvalidState(f"{where}: unknown member {unknown[0]!r} (allowed: {', '.join(names)})")
    try:
        return {
            r.name: r.parse_state(document[r.name], r.name) for r in resources if r.name in document
        }
    except ValueError as exc:
        raise InvalidState(f"{where}: {exc}") from None


def load_file(path: str | os.PathLike[str], resources: Sequence[Resource]) -> Items:
    """The items of the state file at ``path``; raises :class:`InvalidState` naming the file
    and the problem: missing, unreadable, not UTF-8 JSON, or not a state document."""
    where = f"state file {os.fspath(path)!r}"
    try:
        data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    except FileNotFoundError:
        raise InvalidState(f"{where} does not exist") from None
    except IsADirectoryError:
        raise InvalidState(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise InvalidState(f"{where} cannot be read: {exc.strerror}") from None
    if not data.strip():
        return {}
    try:
        return parse_document(decode(data), resources, where)
    except JsonProblem as problem:
        raise InvalidState(f"{where} {problem}") from None


def document(items: Mapping[str, Iterable[Any]], resources: Sequence[Resource]) -> dict[str, Any]:
    """The state document of ``items`` (by resource name), secrets included."""
    return {r.name: [r.dump_state(i) for i in items.get(r.name, ())] for r in resources}


def dump_text(state: Mapping[str, Any]) -> str:
    """The text of a state document: two-space indents, a final newline."""
    return encode(state, indent=True).decode() + "\n"


class Encoder:
    """A state file's text, one item per line, encoding again only the items that are not the
    very objects encoded last time (items are immutable and swapped whole), so a write to a
    large store costs one item's encoding. Not thread-safe: the store's lock guards it."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self._resources = resources
        self._lines: dict[str, dict[str, tuple[Any, str]]] = {r.name: {} for r in resources}

    def pieces(self, items: Mapping[str, Sequence[Any]]) -> list[str]:
        """The file's text of ``items`` (by resource name), in pieces."""
        pieces = ["{"]
        for number, resource in enumerate(self._resources):
            known, fresh = self._lines[resource.name], {}
            for item in items.get(resource.name, ()):
                line = known.get(item.id)
                if line is None or line[0] is not item:
                    line = (item, encode(resource.dump_state(item)).decode())
                fresh[item.id] = line
            self._lines[resource.name] = fresh
            lines = ",\n".join(text for _, text in fresh.values())
            pieces.append(("," if number else "") + f'\n"{resource.name}": [')
            pieces.append(f"\n{lines}\n]" if lines else "]")
        pieces.append("}\n")
        return pieces
