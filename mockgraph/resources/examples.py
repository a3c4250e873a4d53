"""What every resource's documented examples share: the doc pages' placeholder values. A
resource prepares the replay of its examples (``build/replay.py``) with the ``example_*``
hooks of its :class:`~mockgraph.http.routing.Resource` and operations."""

from __future__ import annotations

import re
from typing import Any

#: Every form the pages use: ``use-value``, ``Base64-encoded-pfx-content``,
#: ``application-secret-to-be-uploaded``.
_PLACEHOLDER = re.compile(r"^[\w.-]+-(?:value|content|to-be-uploaded)$|^Base64-encoded-[\w-]+$")


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` is a doc page's placeholder instead of a real value."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))
