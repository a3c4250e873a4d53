"""What every resource's documented examples share: the doc pages' placeholder values. A
resource prepares the replay of its examples (``build/replay.py``) with the ``example_*``
hooks of its :class:`~mockgraph.http.routing.Resource` and operations."""

from __future__ import annotations

import re
from typing import Any

_PLACEHOLDER = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*-(?:value|content)$")


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` is a doc page's placeholder (``"use-value"``, ``"...-content"``)."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))
