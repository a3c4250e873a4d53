"""Request bodies of the benchmarks: a keySet with one real RSA-2048 key (public members, as
``PERFORMANCE.md``'s ~560-byte create; or with every private member too), as JSON text with an
``__ID__`` placeholder for wrk, and as freshly decoded dicts for seeding a store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

PLACEHOLDER = "__ID__"


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@cache
def rsa_jwk(private: bool = False) -> dict[str, Any]:
    """One RSA-2048 JWK (generated once per process): public members, or every member."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()
    public = numbers.public_numbers
    jwk: dict[str, Any] = {
        "kid": "bench-signing-key",
        "use": "sig",
        "kty": "RSA",
        "n": _b64(public.n),
        "e": _b64(public.e),
        "nbf": 1700000000,
        "exp": 2000000000,
    }
    if private:
        jwk.update(
            d=_b64(numbers.d),
            p=_b64(numbers.p),
            q=_b64(numbers.q),
            dp=_b64(numbers.dmp1),
            dq=_b64(numbers.dmq1),
            qi=_b64(numbers.iqmp),
        )
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
