"""Request bodies of the benchmarks: a keySet with one real RSA-2048 key (public members, as
``PERFORMANCE.md``'s ~560-byte create; or with every private member too), as JSON text with an
``__ID__`` placeholder for wrk, and as freshly decoded dicts for seeding a store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from mockgraph.resources.keysets.keys import generate_rsa

PLACEHOLDER = "__ID__"


@cache
def rsa_jwk(private: bool = False) -> dict[str, Any]:
    """One RSA-2048 JWK (generated once per process, by the mock's own generateKey code):
    public members, or every member."""
    key = generate_rsa("sig", 1700000000, 2000000000)
    jwk: dict[str, Any] = key.to_state() if private else key.public()
    jwk["kid"] = "bench-signing-key"
    return jwk


def create_template(private: bool = False) -> str:
    """The create body as compact JSON text whose id is :data:`PLACEHOLDER`."""
    body = {"id": PLACEHOLDER, "keys": [rsa_jwk(private)]}
    return json.dumps(body, separators=(",", ":"))


def seed_id(index: int) -> str:
    return f"B2C_1A_seed{index:06d}"


def seed_bodies(count: int, *, private: bool = False) -> Iterator[dict[str, Any]]:
    """``count`` create bodies with ids :func:`seed_id` ``(0..count-1)``, each decoded from its
    own JSON text so that no two share a string object (as bodies of real requests do not)."""
    template = create_template(private)
    for index in range(count):
        yield json.loads(template.replace(PLACEHOLDER, seed_id(index)))
