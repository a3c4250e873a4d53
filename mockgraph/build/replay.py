"""Replaying example files against a fresh in-process mock and comparing status, ``Location``
and body with the recorded ones (both redacted and normalised as recordings are; ``null``
equals absent). A folder's files replay as one session, in number order; a documented example
replays alone, prepared to succeed: a path placeholder is :data:`EXAMPLE_ID`, what its answer
shows is stored first and placeholder values are made valid, as the operation's resource says
(the ``example_*`` hooks of its table). A documented answer is truncated:
what the mock adds to it is no difference, and its placeholders stand for any value."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mockgraph.app import create_app
from mockgraph.config import Config
from mockgraph.features.recording import (
    DROPPED_HEADERS,
    VOLATILE_HEADERS,
    normalise_body,
    without_origin,
)
from mockgraph.features.redact import read_body, redact_body
from mockgraph.http.contracts import Contracts
from mockgraph.http.routing import Operation, Resource
from mockgraph.resources import RESOURCES
from mockgraph.resources.examples import is_placeholder
from mockgraph.resources.keysets.models import SECRET_FIELDS
from mockgraph.state import mockgraph

if TYPE_CHECKING:
    from mockgraph.build.verify import Example

#: The key set that stands for a path placeholder (``{id}``) of a documented example.
EXAMPLE_ID = "B2C_1A_example"
#: The bearer token replays send in place of a redacted or missing one.
REPLAY_TOKEN = "mockgraph-verify"
_PATH_PLACEHOLDER = re.compile(r"\{[^}/]+\}")
_NOT_KEPT = re.compile(r"^<not recorded: \d+ bytes, [^>]*>$")  # redact.not_kept's text
_MISSING: Any = object()

#: Where a replayed answer differs: (``status``, ``header``, ``body`` or ``replay``; the
#: property path or header name; expected vs got; why it is only a note, or ``None``).
Difference = tuple[str, str, str, str | None]


def replay_examples(
    examples: Sequence[Example], contracts: Contracts
) -> Iterator[tuple[Example, Difference]]:
    """Send each example's request to one mock over ``contracts``, fresh before each session,
    and yield where its answer differs from the recorded one."""
    app = create_app(Config(), contracts=contracts)
    client = app.test_client()
    owners: dict[str | None, tuple[Resource | None, Operation | None]] = {
        op.id: (resource, op) for resource in RESOURCES for op in resource.operations
    }
    session: str | None = None
    for example in examples:
        fault = example.data.get("fault")
        body = example.request.get("body")
        if isinstance(fault, Mapping) and fault.get("status"):
            yield example, ("replay", "", "not replayed", "an injected fault answered it")
            continue
        if not example.documented and isinstance(body, str) and _NOT_KEPT.match(body):
            yield example, ("replay", "", "not replayed", "its request body was not recorded")
            continue
        resource, operation = owners.get(example.operation, (None, None))
        path, data, seed, clock = _prepare(example, resource, operation)
        if example.documented or example.session != session:
            state = mockgraph(app)
            state.reset()
            if resource is not None:
                state.load({resource.name: list(seed)})
            state.clock.set(clock)
        session = None if example.documented else example.session
        response = client.open(
            path,
            method=str(example.request["method"]).upper(),
            query_string=dict(example.request.get("query") or {}),  # a list value: repeated
            headers=_headers(example),
            data=data,
        )
        location = response.headers.get("Location")
        for difference in _compare(example, response.status_code, location, response.get_data()):
            yield example, difference


def _headers(example: Example) -> list[tuple[str, str]]:
    """The recorded request headers less the transport and volatile ones, with a usable token
    (documented requests always get one)."""
    out: list[tuple[str, str]] = []
    for name, value in (example.request.get("headers") or {}).items():
        if name.lower() == "authorization":
            scheme = str(value).split(" ", 1)[0] if " " in str(value) else "Bearer"
            value = f"{scheme} {REPLAY_TOKEN}"
        if name.lower() not in DROPPED_HEADERS | VOLATILE_HEADERS:
            out.append((name, str(value)))
    if example.documented and not any(n.lower() == "authorization" for n, _ in out):
        out.append(("Authorization", f"Bearer {REPLAY_TOKEN}"))
    return out


def _prepare(
    example: Example, resource: Resource | None, operation: Operation | None
) -> tuple[str, bytes | None, tuple[Any, ...], float | None]:
    """The path and body to send, and the items and clock the mock needs first (from the
    resource's and the operation's ``example_*`` hooks)."""
    path = str(example.request["path"])
    body = example.request.get("body")
    if example.documented:
        body = _fill(body)
    answer = example.response.get("body")
    answered: Mapping[str, Any] = answer if isinstance(answer, Mapping) else {}
    if operation is not None and operation.example_body is not None and isinstance(body, Mapping):
        body = operation.example_body(body, answered, example.documented)
    data = None if body is None else json.dumps(body).encode("utf-8")
    if not example.documented:
        return path, data, (), None
    seed: tuple[Any, ...] = ()
    clock = None
    addressed = _PATH_PLACEHOLDER.sub(EXAMPLE_ID, path)
    if operation is not None and operation.example_state is not None:
        seed, clock = operation.example_state(answered, EXAMPLE_ID)
    elif _PATH_PLACEHOLDER.search(path) and resource is not None and resource.example_item:
        seed = resource.example_item(addressed, EXAMPLE_ID)
    return addressed, data, seed, clock


def _fill(value: Any) -> Any:
    """Documented placeholders of ``use`` and ``kty`` (any depth) replaced by valid values."""
    if isinstance(value, Mapping):
        valid = {"use": "sig", "kty": "RSA"}
        return {
            name: valid[name] if name in valid and is_placeholder(member) else _fill(member)
            for name, member in value.items()
        }
    if isinstance(value, list):
        return [_fill(item) for item in value]
    return value


def _compare(example: Example, status: int, location: str | None, data: bytes) -> list[Difference]:
    expected = example.response
    got = read_body(data)
    if status != expected["status"]:
        error = got.get("error") if isinstance(got, Mapping) else None
        detail = ""
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            detail = f" ({error.get('code')}: {error['message']})"
        return [("status", "", f"expected {expected['status']}, got {status}{detail}", None)]
    found: list[Difference] = []
    recorded: Mapping[str, Any] = expected.get("headers") or {}
    want = next((str(v) for n, v in recorded.items() if n.lower() == "location"), None)
    if want is not None and (location is None or without_origin(location) != without_origin(want)):
        message = f"expected {_show(want)}, got {_show(location or _MISSING)}"
        found.append(("header", "Location", message, None))
    want_body = normalise_body(redact_body(expected.get("body")))
    for path, want_value, got_value in _diff(
        want_body, normalise_body(redact_body(got)), "", example
    ):
        message = f"expected {_show(want_value)}, got {_show(got_value)}"
        found.append(("body", path or "(whole body)", message, None))
    return found


def _diff(want: Any, got: Any, path: str, example: Example) -> Iterator[tuple[str, Any, Any]]:
    """(path, expected, got) of every difference between a recorded and a replayed body.
    Write-only members are left to the contract check."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        for name, member in want.items():
            if name in SECRET_FIELDS:
                continue
            if name in got:
                yield from _diff(member, got[name], f"{path}.{name}" if path else name, example)
            elif member is not None:
                yield f"{path}.{name}" if path else name, member, _MISSING
        if not example.truncated:
            for name, member in got.items():
                if name not in want and member is not None:
                    yield f"{path}.{name}" if path else name, _MISSING, member
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) < len(want) or len(got) > len(want) and not example.truncated:
            yield path, f"{len(want)} item(s)", f"{len(got)} item(s)"
        for index, (a, b) in enumerate(zip(want, got, strict=False)):
            yield from _diff(a, b, f"{path}[{index}]", example)
    elif example.documented and is_placeholder(want) and got is not None:
        return  # a doc placeholder stands for any value
    elif want != got or isinstance(want, bool) != isinstance(got, bool):
        yield path, want, got


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
