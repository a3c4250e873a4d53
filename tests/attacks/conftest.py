"""The attack suite's fixtures: ONE ``mockgraph serve`` subprocess per test module
(:class:`attacks.served.Served`), stopped with SIGTERM (it must exit 0 with no traceback
logged), and the operations the input attacks aim at (:mod:`attacks.targets`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from attacks.served import Served, stop_and_check
from attacks.targets import Target, make_bodies, make_targets


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The module's one server, seeded with :data:`attacks.served.SEED`; its files (log, state
    file, recordings) in a folder named after the module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    server = Served(tmp_path_factory.mktemp(f"served-{module}"))
    try:
        yield server
    finally:
        stop_and_check(server)


@pytest.fixture(scope="module")
def bodies() -> dict[str, Any]:
    """A body each operation accepts as it is, by operation name."""
    return make_bodies()


@pytest.fixture(scope="module")
def targets(bodies: dict[str, Any]) -> list[Target]:
    """Every operation as a client calls it, each with its body."""
    return make_targets(bodies)
