"""The JSON Schema contracts of ``schemas/`` (one per operation, generated from the doc pages),
compiled once per app to check request bodies and the mock's own answers.

``jsonschema_rs`` (compiled, so checking costs next to nothing) gives every verdict; the reference
validator ``jsonschema`` words the message of a refused body (``best_match``); both read patterns
as ECMA-262 regexes. Library exception types never leave this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from mockgraph.http.errors import BadRequest

_ESCAPE_CLASS_OR_DOLLAR = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]|\$")
_NO_MATCH = "The value does not match its contract."


@lru_cache(maxsize=64)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` for Python's ``re``, a ``$`` outside a class meaning the end of the string."""
    return re.compile(
        _ESCAPE_CLASS_OR_DOLLAR.sub(lambda m: r"\Z" if m[0] == "$" else m[0], pattern)
    )


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"does not match {pattern!r}")


#: jsonschema's stubs leave ``extend`` untyped; it makes a validator class.
_extend: Callable[..., type[Draft202012Validator]] = validators.extend
#: The reference validator, its patterns read as ECMA-262 regexes.
Reference = _extend(Draft202012Validator, {"pattern": _pattern})


class Check:
    """One definition of a contract, compiled by both engines."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self._verdict = jsonschema_rs.Draft202012Validator(self.schema)
        self._reference = Reference(self.schema)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._verdict.is_valid(instance))

    def problems(self, instance: Any) -> list[tuple[str, str]]:
        """Every way ``instance`` breaks the definition, as sorted (property path, message)."""
        if self.is_valid(instance):
            return []
        errors = self._reference.iter_errors(instance)
        return sorted({(property_path(e.absolute_path), describe(e)) for e in errors}) or [
            ("", _NO_MATCH)
        ]

    def first_problem(self, instance: Any) -> str | None:
        """The one message for a refused ``instance`` (``best_match``), or ``None``."""
        if self.is_valid(instance):
            return None
        error = best_match(self._reference.iter_errors(instance))
        return describe(error) if error is not None else _NO_MATCH


@dataclass(frozen=True)
class Contract:
    """One operation's contract: what it accepts, what it answers, who may call it."""

    operation: str
    method: str
    path: str
    status: int
    schema: Mapping[str, Any]
    request: Check | None
    response: Check | None
    permissions: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def check_request(self, body: Any) -> None:
        """Raise :class:`BadRequest` naming the first offending property of ``body``."""
        problem = self.request.first_problem(body) if self.request is not None else None
        if problem is not None:
            raise BadRequest(problem)

    def response_problems(self, body: Any) -> list[tuple[str, str]]:
        """Every way ``body`` breaks the response contract, as (property path, message)."""
        if self.response is not None:
            return self.response.problems(body)
        return [] if body is None else [("", "The operation answers no body, but one was sent.")]


def property_path(parts: Iterable[str | int]) -> str:
    """``["keys", 0, "exp"]`` -> ``"keys[0].exp"``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def describe(error: ValidationError) -> str:
    """One sentence for a validation error. Never quotes the offending value: it may be a
    secret (``k``, ``d``, ``password``...)."""
    path, kind, instance = list(error.absolute_path), error.validator, error.instance
    value: Any = error.validator_value
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required" and isinstance(instance, dict):
        missing = next((n for n in value if n not in instance), "?")
        return f"The property '{property_path([*path, missing])}' is required."
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        extra = sorted(n for n in instance if n not in known and not n.startswith("@odata."))
        name = property_path([*path, extra[0] if extra else "?"])
        return f"The property '{name}' does not exist on this resource."
    subject = f"The property '{property_path(path)}'" if path else "The request body"
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        words = [n if n == "null" else ("an " if n[0] in "aeiou" else "a ") + n for n in names]
        return f"{subject} must be {' or '.join(words)}."
    if kind == "enum":
        return f"{subject} must be one of: {', '.join(str(v) for v in value)}."
    if kind == "pattern":
        hint = schema.get("description") or "a value of the documented form"
        return f"{subject} has an invalid value; expected {hint}."
    if kind == "not" and schema.get("writeOnly"):
        return f"{subject} is write-only and must not be read back."
    return f"{subject} is invalid ({kind})."


class Contracts(dict[str, Contract]):
    """Every operation's contract by operation id, compiled once at app creation."""

    def __init__(self, contracts: Iterable[Contract] = ()) -> None:
        super().__init__((c.operation, c) for c in contracts)

    @classmethod
    def load(cls, directory: Path | Traversable | None = None) -> Contracts:
        """The ``*.json`` contracts of ``directory`` (default: the ones shipped with the
        package); one of another folder that is not a valid schema raises ``ValueError``."""
        root = directory if directory is not None else packaged("schemas", "schemas")
        entries = sorted(
            (e for e in root.iterdir() if e.name.endswith(".json")), key=lambda e: e.name
        )
        return cls(
            compile_contract(json.loads(e.read_text(encoding="utf-8")), check=directory is not None)
            for e in entries
        )


def packaged(subpackage: str, source_dir: str) -> Traversable:
    """Data shipped as ``mockgraph.<subpackage>``, or the top-level ``source_dir`` of a source
    checkout that is not installed."""
    try:
        return resources.files(f"mockgraph.{subpackage}")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / source_dir


def compile_contract(schema: Mapping[str, Any], *, check: bool = True) -> Contract:
    """The :class:`Contract` of one contract document; with ``check``, ``ValueError`` if it is
    not a valid 2020-12 schema."""
    if check:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"contract is not a valid JSON Schema: {exc.message}") from None
    meta, defs = schema["x-mockgraph"], schema.get("$defs", {})

    def definition(name: str) -> Check | None:
        ref = {"$schema": schema["$schema"], "$defs": defs, "$ref": f"#/$defs/{name}"}
        return Check(ref) if name in defs else None

    return Contract(
        operation=meta["operation"],
        method=meta["method"],
        path=meta["path"],
        status=int(meta["status"]),
        schema=schema,
        request=definition("request"),
        response=definition("response"),
        permissions=meta.get("permissions", {}),
    )
