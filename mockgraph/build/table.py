"""The resources' operations tables as the build takes them: each operation that has a
contract, with the decisions its doc pages leave open read from its declaration (the members
its body schema requires, its secret parameters, the resource's id pattern for a body that
names the item)."""

from __future__ import annotations

from collections.abc import Iterable

from mockgraph.build.spec import OperationSpec
from mockgraph.http.routing import Resource
from mockgraph.resources import RESOURCES


def operation_specs(resources: Iterable[Resource] = RESOURCES) -> list[OperationSpec]:
    """The :class:`OperationSpec` of every operation of ``resources`` that has a contract."""
    specs = []
    for resource in resources:
        for op in resource.operations:
            if not op.contract:
                continue
            members = op.body.fields if op.body is not None else {}
            specs.append(
                OperationSpec(
                    op.id,
                    op.methods[0],
                    op.path,
                    required=tuple(name for name, f in members.items() if f.required),
                    secret_parameters=op.secrets,
                    entity_id_schema=resource.id_schema if "id" in members else None,
                )
            )
    return specs


def case_insensitive(resources: Iterable[Resource] = RESOURCES) -> frozenset[str]:
    """The enumerated properties compared without regard to letter case."""
    return frozenset(name for resource in resources for name in resource.case_insensitive)
