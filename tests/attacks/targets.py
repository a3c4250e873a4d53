"""What the input attacks aim at and how they send: every operation as a client calls it
(:class:`Target`, with a body it accepts), fragments injected into a body at any place
(:func:`inject`), one request and its expectation (:class:`Attack`) sent under the invariant
(:func:`run`), and the pieces of hostile input several attack classes share."""

from __future__ import annotations

import base64
import copy
import json
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from attacks.served import SEED, TOKEN, Answer, Served, check_refused
from crypto_factory import cert_der_b64, make_certificate, make_pfx_b64
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from url_forms import url_forms

from mockgraph.resources.keysets.operations import OPERATIONS


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


SEEDED_ID, SEEDED_KID = "B2C_1A_Seeded", "k1"
RSA_KEY = {
    "kid": "new-rsa", "kty": "RSA", "use": "sig", "n": "AQAB", "e": "AQAB", "d": "AQAB",
    "p": "AQAB", "q": "AQAB", "dp": "AQAB", "dq": "AQAB", "qi": "AQAB", "x5c": ["AQAB"],
    "x5t": "AQAB", "nbf": 1, "exp": 2**40,
}  # fmt: skip
OCT_KEY = {"kid": "new-oct", "kty": "oct", "use": "enc", "k": "c2VjcmV0"}


@dataclass(frozen=True, repr=False)
class Target:
    """One operation as a client calls it: its name, methods, URL forms (``{id}``/``{kid}``
    to fill, already escaped around them) and a body it accepts (``None``: it takes none)."""

    name: str
    methods: tuple[str, ...]
    urls: tuple[str, ...]
    body: Any = None
    query: tuple[str, ...] = ()
    token: bool = True

    def __repr__(self) -> str:
        return f"<Target {self.name}>"

    def url(self, index: int, id_: str = SEEDED_ID, kid: str = SEEDED_KID) -> str:
        """URL form ``index`` with ``id_`` and ``kid`` (escaped as the form needs)."""
        form = self.urls[index % len(self.urls)]
        for name, value in (("id", id_), ("kid", kid)):
            form = form.replace("('{" + name + "}')", "('" + value.replace("'", "''") + "')")
            form = form.replace("{" + name + "}", value)
        return form


def make_bodies() -> dict[str, Any]:
    """A body each operation accepts as it is (``test_fuzz_inputs`` proves it), by name."""
    _, certificate = make_certificate()
    return {
        "createKeySet": {"id": "Fuzzed", "keys": [RSA_KEY, OCT_KEY]},
        "updateKeySet": {"id": SEEDED_ID, "keys": [RSA_KEY]},
        "generateKey": {"use": "sig", "kty": "oct", "nbf": 1, "exp": 2**40},
        "uploadSecret": {"use": "sig", "k": "c2VjcmV0", "nbf": 1, "exp": 2**40},
        "uploadCertificate": {"key": cert_der_b64(certificate)},
        "uploadPkcs12": {"key": make_pfx_b64("pw"), "password": "pw"},
        "updateKeyV2": {"status": "disabled"},
        "$batch": {
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": "/trustFramework/keySets",
                    "headers": {"Content-Type": "application/json", "client-request-id": "c-1"},
                    "body": {"id": "Batched", "keys": [OCT_KEY]},
                },
                {
                    "id": "2",
                    "method": "GET",
                    "url": "/trustFramework/keySets('B2C_1A_Seeded')?$select=id",
                    "dependsOn": ["1"],
                },
            ]
        },
        "control.put_state": SEED,
        "control.set_clock": {"now": "2030-01-01T00:00:00Z"},
    }


def make_targets(bodies: dict[str, Any]) -> list[Target]:
    """Every operation of the operations table, then the mock's own endpoints."""
    found = [
        Target(
            op.id,
            op.methods,
            url_forms(op),
            bodies.get(op.id),
            tuple(sorted(op.query)),
        )
        for op in OPERATIONS
    ]
    return found + [
        Target("$batch", ("POST",), ("/beta/$batch",), bodies["$batch"]),
        Target("control.put_state", ("POST",), ("/_mockgraph/state",), SEED, token=False),
        Target(
            "control.set_clock",
            ("POST",),
            ("/_mockgraph/clock",),
            bodies["control.set_clock"],
            token=False,
        ),
        Target("control.get_state", ("GET",), ("/_mockgraph/state",), query=("secrets",)),
        Target(
            "control.list_requests",
            ("GET",),
            ("/_mockgraph/requests",),
            query=("operation", "method", "limit"),
        ),
        Target("metadata", ("GET",), ("/beta/$metadata",)),
    ]


def with_body(targets: list[Target]) -> list[Target]:
    return [t for t in targets if t.body is not None]


# -- injecting a fragment into a body -------------------------------------------------------
MARK = "@@mockgraph-attack@@"
Place = tuple[str | int, ...]


def positions(value: Any, path: Place = ()) -> list[tuple[Place, str]]:
    """Every place of ``value`` a fragment can go: each scalar (``value``) and each member
    name (``name``), in document order."""
    found: list[tuple[Place, str]] = []
    if isinstance(value, dict):
        for key, member in value.items():
            found.append(((*path, key), "name"))
            found += positions(member, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += positions(item, (*path, index))
    elif path:
        found.append((path, "value"))
    return found


def inject(document: Any, place: Place, kind: str, fragment: bytes) -> bytes:
    """The JSON text of ``document`` with ``fragment`` (raw JSON bytes) as the value at
    ``place``, or (``kind`` ``name``) as the name of the member at ``place``."""
    copied = copy.deepcopy(document)
    parent = copied
    for step in place[:-1]:
        parent = parent[step]
    last = place[-1]
    if kind == "value":
        parent[last] = MARK
    else:
        renamed = {(MARK if k == last else k): v for k, v in parent.items()}
        parent.clear()
        parent.update(renamed)
    text = json.dumps(copied).encode()
    marker = json.dumps(MARK).encode()
    assert text.count(marker) == 1
    return text.replace(marker, fragment)


@dataclass
class Attack:
    """One request to send, and what must come of it."""

    method: str
    target: str
    body: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    token: bool = True
    #: Must be refused (never a 2xx), with this text in the message when given.
    refused: bool = False
    says: str | None = None

    def send(self, served: Served) -> Answer:
        headers: dict[str, str | bytes] = {}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self.headers)
        return served.request(
            self.method,
            self.target,
            self.body,
            headers,
            token=TOKEN if self.token else None,
        )


def run(served: Served, attack: Attack) -> Answer:
    """Send ``attack`` under the invariant; a ``$batch`` answered 200 is checked item by item
    (a refused attack then has no item that succeeded)."""
    batch = attack.method == "POST" and attack.target.startswith("/beta/$batch")
    answer = check_refused(
        served, lambda: attack.send(served), must_refuse=attack.refused and not batch
    )
    assert answer is not None
    if batch and answer.status == 200:
        statuses = check_batch_items(answer)
        assert not (attack.refused and any(200 <= s < 300 for s in statuses)), answer.text()
    elif attack.refused and attack.says is not None:
        assert attack.says in answer.json()["error"]["message"], answer.text()
    return answer


def check_batch_items(answer: Answer) -> list[int]:
    """A ``$batch`` answered 200: no item a 5xx, every refused item Graph's error body; the
    items' statuses."""
    statuses = []
    for item in answer.json()["responses"]:
        assert item["status"] < 500, item
        if item["status"] >= 400:
            error = item["body"]["error"]
            assert error["code"] and error["message"], item
            assert {"date", "request-id", "client-request-id"} <= set(error["innerError"]), item
        statuses.append(item["status"])
    return statuses


# -- pieces of hostile input -----------------------------------------------------------------
#: Short text of the characters ids are made of.
TEXT = st.text(string.ascii_letters + string.digits + "_.-", max_size=6)
#: A surrogate as UTF-8 would spell it (CESU-8): bytes that are not UTF-8 at all.
CESU_BYTES = st.sampled_from([b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xb0\x80"])


def skiptoken(after: bytes, urlsafe: bool, padded: bool) -> str:
    """A ``$skiptoken`` as the mock makes them (base64 of ``{"a": after, "d": false}``), of
    ``after`` (raw JSON), in either alphabet, padded or not, escaped for a query string."""
    data = b'{"a":' + after + b',"d":false}'
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return quote(encoded if padded else encoded.rstrip("="), safe="")


HEADER_NAMES = st.sampled_from(
    ["client-request-id", "Authorization", "Origin", "Content-Type", "Accept", "Prefer",
     "If-Match", "ConsistencyLevel", "Accept-Language", "Cookie", "X-Anything", "User-Agent"]
)  # fmt: skip


def jwt_of(claims: bytes) -> str:
    """A JWT of ``claims`` (raw JSON, so NaN and huge numbers can be written), signed by no
    one."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(b'{"alg":"HS256","typ":"JWT"}')
    return f"{header}.{part(claims)}.c2ln"


def nesting(depth: int, kind: str) -> bytes:
    """JSON nested ``depth`` levels deep: an ``array``, an ``object`` or both (``mixed``)."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"a":' * (depth // 2) + b"[]" + b"}]" * (depth // 2)
