"""The resources the mock serves, each a folder with the same rooms; a new one is a folder and
one line here."""

from mockgraph.http.routing import Resource
from mockgraph.resources.keysets import KEYSETS

RESOURCES: tuple[Resource, ...] = (KEYSETS,)
