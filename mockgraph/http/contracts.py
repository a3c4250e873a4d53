"""The JSON Schema contracts of ``schemas/``: loaded and compiled once, then used to check
request bodies (one clear message naming the property path) and the mock's own answers.

Each definition is compiled twice. ``jsonschema_rs`` (compiled Rust, about a microsecond for a
create body) gives the verdict on every request and answer; ``jsonschema`` (the reference, whose
``best_match`` picks the message) explains a body only once it is known to be bad. The fast
engine answering "valid" is the common case, so a valid request never pays for the pure-Python
walk (issue 6: it was a third of a create). Where ``jsonschema_rs`` is not installed (it ships
CPython wheels only) or cannot take a value (a lone surrogate), ``jsonschema`` decides alone.

The two disagree in one known place: JSON Schema patterns are ECMA-262 regexes, whose ``$`` is
the end of the string, while ``jsonschema`` runs them with Python's ``re``, whose ``$`` also
matches before a final newline. The fast engine's verdict stands there (``"x\\n"`` is no key set
id); ``tests/test_contracts.py`` pins that the engines agree everywhere else.

Library exception types never leave this module: a bad request becomes
:class:`mockgraph.http.errors.BadRequest`, a response problem a list of readable violations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from mockgraph.http.errors import BadRequest

try:
    import jsonschema_rs as _fast_engine
except ImportError:  # pragma: no cover - platforms without its wheels
    _fast_engine = None  # type: ignore[assignment]

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


class FastCheck:
    """A definition compiled by ``jsonschema_rs``: a verdict, never a message."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._validator = (
            _fast_engine.Draft202012Validator(dict(schema)) if _fast_engine is not None else None
        )

    def verdict(self, instance: Any) -> bool | None:
        """True or False; None when there is no fast engine or it cannot take ``instance``."""
        if self._validator is None:
            return None
        try:
            return bool(self._validator.is_valid(instance))
        except (ValueError, TypeError, OverflowError, RecursionError):
            return None

    def first_problem(self, instance: Any) -> str:
        """A message for the first error, naming the property path and the keyword only."""
        assert self._validator is not None
        error = next(iter(self._validator.iter_errors(instance)))
        keyword = next((str(p) for p in reversed(error.schema_path) if isinstance(p, str)), "")
        where = property_path(error.instance_path)
        subject = f"The property '{where}'" if where else "The request body"
        if keyword == "pattern":
            return f"{subject} has an invalid value; expected a value of the documented form."
        return f"{subject} is invalid ({keyword})."


@dataclass(frozen=True)
class Contract:
    """One operation's contract: what it accepts, what it answers, who may call it."""

    operation: str
    method: str
    path: str
    status: int
    schema: Mapping[str, Any]
    request: Draft202012Validator | None
    response: Draft202012Validator | None
    permissions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    #: The same definitions compiled by the fast engine (see the module docstring).
    fast_request: FastCheck | None = field(default=None, compare=False, repr=False)
    fast_response: FastCheck | None = field(default=None, compare=False, repr=False)

    @property
    def has_request_body(self) -> bool:
        return self.request is not None

    def check_request(self, body: Any) -> None:
        """Raise :class:`BadRequest` with one message naming the first offending property."""
        if self.request is None:
            return
        verdict = self.fast_request.verdict(body) if self.fast_request is not None else None
        if verdict:
            return
        error = best_match(self.request.iter_errors(body))
        if error is not None:
            raise BadRequest(describe(error))
        if verdict is False and self.fast_request is not None:
            raise BadRequest(self.fast_request.first_problem(body))

    def response_violations(self, body: Any) -> list[str]:
        """Readable descriptions of every way ``body`` breaks the response contract."""
        if self.response is None:
            return [] if body is None else ["the operation answers no body, but one was sent"]
        verdict = self.fast_response.verdict(body) if self.fast_response is not None else None
        if verdict:
            return []
        found = sorted(describe(e) for e in self.response.iter_errors(body))
        if not found and verdict is False and self.fast_response is not None:
            found = [self.fast_response.first_problem(body)]
        return found


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
    kind = error.validator
    value: Any = error.validator_value
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if kind == "required" and isinstance(instance, dict):
        missing = [n for n in value if n not in instance]
        name = property_path([*path, missing[0] if missing else "?"])
        return f"The property '{name}' is required."
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
        words = " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)
        return f"{subject} must be {words}."
    if kind == "enum":
        allowed = ", ".join(str(v) for v in value)
        return f"{subject} must be one of: {allowed}."
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
        """Load ``*.json`` contracts from ``directory`` (default: the ones shipped in the
        package). A contract from another directory that is not a valid schema raises
        ``ValueError``. The shipped contracts are checked against the metaschema by the build
        and the test suite, not here: checking them is most of a cold start (issue 6)."""
        root = directory if directory is not None else default_directory()
        loaded = []
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                schema = json.loads(entry.read_text(encoding="utf-8"))
                loaded.append(compile_contract(schema, check=directory is not None))
        return cls(loaded)


def default_directory() -> Traversable:
    """The contracts installed with the package (``schemas/`` of the source tree)."""
    return packaged("schemas", "schemas")


def packaged(subpackage: str, source_dir: str) -> Traversable:
    """Data shipped as ``mockgraph.<subpackage>``; when ``mockgraph`` is imported straight from
    a source checkout (``python -m pytest`` in the repo), the top-level ``source_dir``."""
    try:
        return resources.files(f"mockgraph.{subpackage}")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / source_dir


def compile_contract(schema: Mapping[str, Any], *, check: bool = True) -> Contract:
    """Build validators for the ``request`` and ``response`` definitions of one contract;
    with ``check``, first check it is a valid 2020-12 schema (``ValueError`` if not)."""
    if check:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"contract is not a valid JSON Schema: {exc.message}") from None
    meta = schema["x-mockgraph"]
    defs = schema.get("$defs", {})

    def root(name: str) -> dict[str, Any] | None:
        if name not in defs:
            return None
        return {"$schema": schema["$schema"], "$defs": defs, "$ref": f"#/$defs/{name}"}

    request, response = root("request"), root("response")

    return Contract(
        operation=meta["operation"],
        method=meta["method"],
        path=meta["path"],
        status=int(meta["status"]),
        schema=schema,
        request=Draft202012Validator(request) if request is not None else None,
        response=Draft202012Validator(response) if response is not None else None,
        permissions=meta.get("permissions", {}),
        examples=tuple(meta.get("examples", ())),
        fast_request=FastCheck(request) if request is not None else None,
        fast_response=FastCheck(response) if response is not None else None,
    )
