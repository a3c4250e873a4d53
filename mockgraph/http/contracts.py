"""The JSON Schema contracts of ``schemas/`` (one per operation, generated from the Graph doc
pages): loaded and compiled once per app, then used to check request bodies (one message naming
the property path) and the mock's own answers.

Two engines, paired so that they cannot disagree: ``jsonschema_rs`` (compiled, so checking
every request and answer costs next to nothing) gives every verdict; ``jsonschema``, the
reference validator, only words the message of a body already refused, picking the most
relevant error with ``best_match``. Patterns are ECMA-262 regexes for both (``$`` is the end
of the string; :func:`ecma_pattern` gives Python's ``re`` that meaning), and
``tests/http/test_contracts.py`` checks that the two agree on any body. Library exception
types never leave this module.
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

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


@lru_cache(maxsize=64)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled for Python's ``re`` with ECMA-262's meaning of ``$`` (the end of the
    string; in ``re`` it also matches before a final newline)."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


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
        """Every way ``instance`` breaks the definition, as (property path, message) pairs,
        sorted; empty when it is valid."""
        if self.is_valid(instance):
            return []
        found = {
            (property_path(e.absolute_path), describe(e))
            for e in self._reference.iter_errors(instance)
        }
        return sorted(found) or [("", "The value does not match its contract.")]

    def first_problem(self, instance: Any) -> str | None:
        """The one message for a refused ``instance`` (``best_match``), or ``None``."""
        if self.is_valid(instance):
            return None
        error = best_match(self._reference.iter_errors(instance))
        return describe(error) if error is not None else "The value does not match its contract."


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
    examples: tuple[str, ...] = ()

    def check_request(self, body: Any) -> None:
        """Raise :class:`BadRequest` with one message naming the first offending property."""
        problem = self.request.first_problem(body) if self.request is not None else None
        if problem is not None:
            raise BadRequest(problem)

    def response_problems(self, body: Any) -> list[tuple[str, str]]:
        """Every way ``body`` breaks the response contract, as (property path, message)."""
        if self.response is None:
            return (
                [] if body is None else [("", "The operation answers no body, but one was sent.")]
            )
        return self.response.problems(body)


def property_path(parts: Iterable[str | int]) -> str:
    """``["keys", 0, "exp"]`` -> ``"keys[0].exp"``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def describe(error: ValidationError) -> str:
    """One sentence for a validation error. Never quotes the offending value: it may be a
    secret (``k``, ``d``, ``password``...)."""
    path = list(error.absolute_path)
    where = property_path(path)
    kind, instance = error.validator, error.instance
    value: Any = error.validator_value
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required" and isinstance(instance, dict):
        missing = [n for n in value if n not in instance]
        return (
            f"The property '{property_path([*path, missing[0] if missing else '?'])}' is required."
        )
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(schema.get("properties", {}))
        extra = sorted(
            str(n) for n in instance if n not in known and not str(n).startswith("@odata.")
        )
        name = property_path([*path, extra[0] if extra else "?"])
        return f"The property '{name}' does not exist on this resource."
    subject = f"The property '{where}'" if where else "The request body"
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return f"{subject} must be {' or '.join(_TYPE_WORDS.get(str(n), str(n)) for n in names)}."
    if kind == "enum":
        return f"{subject} must be one of: {', '.join(str(v) for v in value)}."
    if kind == "pattern":
        hint = schema.get("description") or "a value of the documented form"
        return f"{subject} has an invalid value; expected {hint}."
    if kind in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"{subject} is out of range."
    if kind == "not" and schema.get("writeOnly"):
        return f"{subject} is write-only and must not be read back."
    if kind in {"minLength", "maxLength", "minItems", "maxItems"}:
        return f"{subject} has an invalid length."
    return f"{subject} is invalid ({kind})."


class Contracts(Mapping[str, Contract]):
    """Every operation's contract by operation id, compiled once at app creation."""

    def __init__(self, contracts: Iterable[Contract]) -> None:
        self._by_op = {c.operation: c for c in contracts}

    def __getitem__(self, operation: str) -> Contract:
        return self._by_op[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_op)

    def __len__(self) -> int:
        return len(self._by_op)

    @classmethod
    def load(cls, directory: Path | Traversable | None = None) -> Contracts:
        """The ``*.json`` contracts of ``directory`` (default: the ones shipped with the
        package). A contract of another folder that is not a valid schema raises
        ``ValueError``; the shipped ones are checked by the build and the tests."""
        root = directory if directory is not None else packaged("schemas", "schemas")
        loaded = []
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                schema = json.loads(entry.read_text(encoding="utf-8"))
                loaded.append(compile_contract(schema, check=directory is not None))
        return cls(loaded)


def packaged(subpackage: str, source_dir: str) -> Traversable:
    """Data shipped as ``mockgraph.<subpackage>``, or, imported from a source checkout that is
    not installed, the checkout's top-level ``source_dir``."""
    try:
        return resources.files(f"mockgraph.{subpackage}")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / source_dir


def compile_contract(schema: Mapping[str, Any], *, check: bool = True) -> Contract:
    """The :class:`Contract` of one contract document; with ``check``, first check it is a
    valid 2020-12 schema (``ValueError`` if not)."""
    if check:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"contract is not a valid JSON Schema: {exc.message}") from None
    meta, defs = schema["x-mockgraph"], schema.get("$defs", {})

    def definition(name: str) -> Check | None:
        if name not in defs:
            return None
        return Check({"$schema": schema["$schema"], "$defs": defs, "$ref": f"#/$defs/{name}"})

    return Contract(
        operation=meta["operation"],
        method=meta["method"],
        path=meta["path"],
        status=int(meta["status"]),
        schema=schema,
        request=definition("request"),
        response=definition("response"),
        permissions=meta.get("permissions", {}),
        examples=tuple(meta.get("examples", ())),
    )
