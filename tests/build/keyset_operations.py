"""The keySet operations as the build takes them: read from the resource's operations table, as
``mockgraph contracts build`` does."""

from __future__ import annotations

from mockgraph.build.table import operation_specs

KEYSET_OPERATIONS = tuple(operation_specs())
