"""The resources the mock serves, each a folder with the same rooms (operations table, models,
schemas, views); a new resource is a new folder and one line here."""

from __future__ import annotations

from mockgraph.http.routing import Resource
from mockgraph.resources.keysets import KEYSETS

RESOURCES: tuple[Resource, ...] = (KEYSETS,)
