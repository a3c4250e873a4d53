"""Graph doc pages (Markdown) -> JSON Schema contracts and example fixtures: the build step."""

from mockgraph.build.assemble import BuildResult, build
from mockgraph.build.defects import DocWarning
from mockgraph.build.files import check, write
from mockgraph.build.spec import OperationSpec, match_operation

__all__ = [
    "BuildResult",
    "DocWarning",
    "OperationSpec",
    "build",
    "check",
    "match_operation",
    "write",
]
