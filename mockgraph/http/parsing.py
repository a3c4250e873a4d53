"""Request input -> typed values: the JSON body read safely, then marshmallow schemas that
turn it into :mod:`mockgraph.models` objects and action parameters.

Every problem becomes a :class:`mockgraph.http.errors.GraphError` (400, 413 or 415); marshmallow's
and the JSON decoder's exceptions never leave this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    pre_load,
    validate,
)

from mockgraph.http.contracts import property_path
from mockgraph.http.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from mockgraph.resources.keysets.models import KEY_FIELDS, KEYSET_ID_PATTERN, Key, KeySet

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - platforms without its wheels: the standard library
    _orjson = None  # type: ignore[assignment]

INT64 = validate.Range(min=-(2**63), max=2**63 - 1, error="out of range")
#: The contract's id pattern with ECMA-262's "$" (the end, not before a final newline).
ID_PATTERN = re.compile(KEYSET_ID_PATTERN.removesuffix("$") + r"\Z")
B2C_PREFIX = "B2C_1A_"

T = TypeVar("T")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class JsonProblem(ValueError):
    """Why bytes are not strict JSON; the message is a predicate ("is not valid UTF-8 ...")
    for the caller to give a subject ("The request body", "state file 'x'")."""


#: A run of digits longer than any Int64: orjson would decode such an integer as a float
#: (and round a mantissa that long), where the standard library keeps every digit.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")
#: At most this many arrays and objects (so at most this deep) for orjson: it decodes 1,024
#: levels, more than the standard library within a request's stack, and what the rest of the
#: app can walk (the standard library decides on deeper bodies, as before).
_FEW_OPENERS = 256


def strict_json(data: bytes, *, encoding: str = "utf-8") -> Any:
    """Decode UTF-8 JSON strictly: no NaN/Infinity, no numbers too long to convert, no nesting
    too deep to decode. Raises :class:`JsonProblem`, never the decoder's own exceptions.

    orjson (compiled; a third of the standard library's time on a create body) decodes what
    it can decode to the very same values; anything it refuses, any number of 19 digits or
    more and any body of many arrays or objects go to the standard library, which decides and
    says why (``tests/test_parsing.py`` checks that both agree)."""
    if (
        _orjson is not None
        and encoding == "utf-8"
        and data.count(b"[") + data.count(b"{") <= _FEW_OPENERS
        and _LONG_NUMBER.search(data) is None
    ):
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise JsonProblem("is nested too deeply") from None
    except ValueError as exc:
        raise JsonProblem(f"is not valid JSON: {exc}") from None


def read_json(data: bytes, content_type: str | None, content_length: int | None, limit: int) -> Any:
    """Decode a request body that must be JSON.

    Raises :class:`PayloadTooLarge` over ``limit`` bytes, :class:`UnsupportedMediaType` when the
    content type is not JSON, :class:`BadRequest` for an empty body, invalid UTF-8, invalid JSON
    (including NaN/Infinity, numbers too long to convert and nesting too deep to decode).
    """
    if content_length is not None and content_length > limit or len(data) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if not data.strip():
        raise BadRequest("A JSON request body is required.")
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("The request body must be sent as 'application/json'.")
    try:
        return strict_json(data)
    except JsonProblem as problem:
        raise BadRequest(f"The request body {problem}.") from None


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


class GraphSchema(Schema):
    """Closed schemas (unknown members raise) that ignore OData annotations such as
    ``@odata.type``, which SDKs send.

    Each subclass makes its typed value in one ``@post_load`` method named ``_make`` and has
    no other hooks or validators beyond its fields' own: :meth:`load` relies on it."""

    class Meta:
        unknown = RAISE

    def load(  # type: ignore[override]
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: bool | None = None,
        unknown: Any = None,
    ) -> Any:
        """``Schema.load``, with a quick path for a body that holds only declared members,
        all valid: their fields' ``deserialize`` and ``_make``, without Schema.load's
        bookkeeping (half of a create's parsing, issue 6). Anything else (unknown members,
        annotations, a bad value) goes through Schema.load itself, so every error and its
        message are marshmallow's. ``tests/test_parsing.py`` checks that both paths agree."""
        if many is None and partial is None and unknown is None and type(data) is dict:
            fields_ = self.load_fields
            if data.keys() <= fields_.keys():
                try:
                    values: dict[str, Any] = {}
                    for name, field in fields_.items():
                        value = field.deserialize(data.get(name, missing), name, data)
                        if value is not missing:
                            values[name] = value
                    return self._make(values)
                except ValidationError:
                    pass  # Schema.load finds it again, with every message in its place
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        return data

    @pre_load
    def _drop_annotations(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping) and any(str(k).startswith("@odata.") for k in data):
            return {k: v for k, v in data.items() if not str(k).startswith("@odata.")}
        return data


def _str() -> fields.String:
    return fields.String(allow_none=True, load_default=None)


class JsonInteger(fields.Integer):
    """An integer as JSON Schema counts them: ``5`` and ``5.0`` (the contract accepts both),
    never ``"5"``, ``5.5`` or ``true``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


def _int64() -> fields.Integer:
    return JsonInteger(strict=True, allow_none=True, load_default=None, validate=INT64)


class JwkField(fields.Field[Key]):
    """One trustFrameworkKey (a JSON Web Key) -> :class:`Key`.

    A field, not a nested schema of sixteen fields: marshmallow runs every declared field of a
    schema for every key, present or not, and that was most of a create's parsing (issue 6).
    This walks only the members the key has, with the same checks and messages a nested schema
    gives: strings or null, ``x5c`` a list of strings, ``nbf``/``exp`` Int64, OData annotations
    ignored, any other member "Unknown field."."""

    # The message marshmallow's Nested field gives for a key that is no object.
    default_error_messages = {"invalid": "Invalid input type."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Key:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        members: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, item in value.items():
            if name in _STRING_MEMBERS:
                if item is None or isinstance(item, str):
                    members[name] = item
                else:
                    errors[name] = [_STRING.error_messages["invalid"]]
                continue
            if type(item) is int and name in _INT64_MEMBERS and _INT64_MIN <= item <= _INT64_MAX:
                members[name] = item  # what the Int64 field would give, without its machinery
                continue
            typed = _TYPED_MEMBERS.get(name)
            if typed is None:
                if not str(name).startswith("@odata."):
                    errors[name] = ["Unknown field."]
                continue
            try:
                members[name] = typed.deserialize(item)
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)
        if members.get("x5c") is not None:
            members["x5c"] = tuple(members["x5c"])
        return Key(**members)


_STRING = fields.String()
_STRING_MEMBERS = frozenset(KEY_FIELDS) - {"x5c", "nbf", "exp"}
_INT64_MEMBERS = frozenset({"nbf", "exp"})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TYPED_MEMBERS: dict[str, fields.Field[Any]] = {
    "x5c": fields.List(fields.String(), allow_none=True),
    "nbf": _int64(),
    "exp": _int64(),
}


class KeySetSchema(GraphSchema):
    id = fields.String(validate=validate.Regexp(ID_PATTERN, error="not a valid key set id"))
    keys = fields.List(JwkField(), allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return data


class CreateKeySetSchema(KeySetSchema):
    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> KeySet:
        return KeySet(id=with_prefix(data["id"]), keys=tuple(data.get("keys") or ()))

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        if field_name == "id":
            field_obj.required = True


@dataclass(frozen=True)
class UpdateKeySet:
    id: str | None
    #: ``None`` when the body has no ``keys``: PUT then empties the set, PATCH keeps it.
    keys: tuple[Key, ...] | None


class UpdateKeySetSchema(KeySetSchema):
    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UpdateKeySet:
        keys = data.get("keys")
        return UpdateKeySet(id=data.get("id"), keys=None if keys is None else tuple(keys))


@dataclass(frozen=True)
class GenerateKey:
    use: str
    kty: str
    nbf: int | None
    exp: int | None


class GenerateKeySchema(GraphSchema):
    use = fields.String(required=True, validate=validate.OneOf(["sig", "enc"]))
    kty = fields.String(required=True)
    nbf = _int64()
    exp = _int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> GenerateKey:
        kty = data["kty"]
        if kty.lower() not in {"rsa", "oct"}:
            raise ValidationError("must be one of: RSA, oct", field_name="kty")
        # Answer as the docs' examples spell it: "RSA" upper-case, "oct" lower-case (RFC 7518).
        return GenerateKey(
            data["use"], "RSA" if kty.lower() == "rsa" else "oct", data["nbf"], data["exp"]
        )


@dataclass(frozen=True)
class UploadSecret:
    use: str
    k: str
    nbf: int | None
    exp: int | None


class UploadSecretSchema(GraphSchema):
    use = fields.String(required=True, validate=validate.OneOf(["sig", "enc"]))
    k = fields.String(required=True, validate=validate.Length(min=1))
    nbf = _int64()
    exp = _int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UploadSecret:
        return UploadSecret(data["use"], data["k"], data["nbf"], data["exp"])


@dataclass(frozen=True)
class UploadCertificate:
    key: str


class UploadCertificateSchema(GraphSchema):
    key = fields.String(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UploadCertificate:
        return UploadCertificate(data["key"])


@dataclass(frozen=True)
class UploadPkcs12:
    key: str
    password: str | None


class UploadPkcs12Schema(GraphSchema):
    key = fields.String(required=True)
    password = fields.String(allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UploadPkcs12:
        return UploadPkcs12(data["key"], data["password"])


@dataclass(frozen=True)
class UpdateKeyV2:
    status: str | None


class UpdateKeyV2Schema(GraphSchema):
    status = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(["enabled", "disabled"])
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UpdateKeyV2:
        return UpdateKeyV2(data["status"])


#: Operation id -> the schema that types its body. One instance each, built once.
BODY_SCHEMAS: dict[str, Schema] = {
    "createKeySet": CreateKeySetSchema(),
    "updateKeySet": UpdateKeySetSchema(),
    "generateKey": GenerateKeySchema(),
    "uploadSecret": UploadSecretSchema(),
    "uploadCertificate": UploadCertificateSchema(),
    "uploadPkcs12": UploadPkcs12Schema(),
    "updateKeyV2": UpdateKeyV2Schema(),
}


def load(operation: str, body: dict[str, Any]) -> Any:
    """Typed values of ``body`` for ``operation``; :class:`BadRequest` names the first bad path."""
    try:
        return BODY_SCHEMAS[operation].load(body)
    except ValidationError as exc:
        raise BadRequest(_first_message(exc.messages)) from None


def _first_message(messages: Any, path: tuple[str | int, ...] = ()) -> str:
    if isinstance(messages, dict):
        for key in sorted(messages, key=str):
            if key == "_schema":
                return _first_message(messages[key], path)
            return _first_message(messages[key], (*path, key))
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _first_message(first, path)
        where = property_path(path)
        text = str(first).rstrip(".")
        if text == "Unknown field":
            return f"The property '{where}' does not exist on this resource."
        if text.startswith("Missing data for required field"):
            return f"The property '{where}' is required."
        return (
            f"The property '{where}' is invalid: {text[0].lower() + text[1:]}."
            if where
            else f"{text}."
        )
    return "The request body is invalid."


def with_prefix(keyset_id: str) -> str:
    """The id the service stores: ``B2C_1A_`` is added unless present (in any case), as in the
    create page's example (``keyset1`` -> ``B2C_1A_keyset1``)."""
    if keyset_id.upper().startswith(B2C_PREFIX):
        return keyset_id
    return B2C_PREFIX + keyset_id
