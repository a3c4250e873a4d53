"""Key set bodies and state documents -> typed values: the marshmallow schemas of every keySets
operation that takes a body (the contract build reads their required fields), and of the key
sets of a state document."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from mockgraph.features.redact import REDACTED
from mockgraph.http.parsing import GraphSchema, first_error, int64
from mockgraph.resources.keysets.models import (
    KEY_TYPES,
    KEYSET_ID_PATTERN,
    SECRET_FIELDS,
    STATUSES,
    Key,
    KeySet,
    key_problems,
    with_prefix,
)

#: The id pattern with ECMA-262's "$" (the end of the string, not before a final newline).
_ID = validate.Regexp(
    KEYSET_ID_PATTERN.removesuffix("$") + r"\Z",
    error="is not a valid key set id (1-256 letters, digits, '_', '.', '-')",
)


def _text() -> fields.String:
    return fields.String(allow_none=True, load_default=None)


def _status() -> fields.String:
    return fields.String(allow_none=True, load_default=None, validate=validate.OneOf(STATUSES))


def _checked(keys: Any) -> tuple[Key, ...]:
    """``keys`` as a tuple, or a ValidationError naming the first key that breaks a rule."""
    problem = key_problems(tuple(keys or ()))
    if problem is not None:
        index, member, text = problem
        raise ValidationError({"keys": {index: {member: [text]}}})
    return tuple(keys or ())


class KeySchema(GraphSchema):
    """One trustFrameworkKey: strings or null, ``x5c`` a list of strings, ``nbf``/``exp`` Int64."""

    kid, kty, use, x5t, e, n = _text(), _text(), _text(), _text(), _text(), _text()
    d, p, q, dp, dq, qi, k = _text(), _text(), _text(), _text(), _text(), _text(), _text()
    x5c = fields.List(fields.String(), allow_none=True, load_default=None)
    nbf, exp = int64(), int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Key:
        if data["x5c"] is not None:
            data["x5c"] = tuple(data["x5c"])
        return Key(**data)


class StoredKeySchema(KeySchema):
    """A key in a state document: with its keys_v2 ``status``, never a redacted secret."""

    status = _status()

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        if field_name in SECRET_FIELDS:
            error = "is redacted; dump the state with its secrets to get a file that loads"
            field_obj.validators.append(validate.NoneOf([REDACTED], error=error))


class UpdateKeySetSchema(GraphSchema):
    """PUT's and PATCH's body -> ``{"id"?, "keys"}``, ``keys`` ``None`` when absent."""

    id = fields.String(validate=_ID)
    keys = fields.List(fields.Nested(KeySchema), allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        return {**data, "keys": None if data["keys"] is None else _checked(data["keys"])}


class CreateKeySetSchema(UpdateKeySetSchema):
    id = fields.String(required=True, validate=_ID)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> KeySet:
        return KeySet(with_prefix(data["id"]), _checked(data["keys"]))


class StoredKeySetSchema(CreateKeySetSchema):
    keys = fields.List(fields.Nested(StoredKeySchema), allow_none=True, load_default=None)


class _NewKeySchema(GraphSchema):
    use = fields.String(required=True, validate=validate.OneOf(["sig", "enc"]))
    nbf, exp = int64(), int64()

    @validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        if data["nbf"] is not None and data["exp"] is not None and data["nbf"] > data["exp"]:
            raise ValidationError("must not be later than 'exp'", field_name="nbf")


class GenerateKeySchema(_NewKeySchema):
    """generateKey's body -> ``{"use", "kty", "nbf", "exp"}``, ``kty`` as spelled in
    :data:`KEY_TYPES`."""

    kty = fields.String(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        kty = next((t for t in KEY_TYPES if t.lower() == data["kty"].lower()), None)
        if kty is None:
            raise ValidationError("must be one of: RSA, oct", field_name="kty")
        return {**data, "kty": kty}


class UploadSecretSchema(_NewKeySchema):
    k = fields.String(required=True, validate=validate.Length(min=1))


class UploadCertificateSchema(GraphSchema):
    key = fields.String(required=True)


class UploadPkcs12Schema(UploadCertificateSchema):
    password = fields.String(allow_none=True, load_default=None)


class UpdateKeyV2Schema(GraphSchema):
    status = _status()


_STORED = StoredKeySetSchema()


def parse_state(items: Any, at: str) -> list[KeySet]:
    """The key sets of a state document's ``keySets`` member; raises ``ValueError`` with a
    message ``"<at>[i].<path>: <problem>"`` (never quoting a value: it may be secret)."""
    if not isinstance(items, list):
        raise ValueError(f"{at}: must be a list of key sets")
    keysets: list[KeySet] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        here = f"{at}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{here}: must be an object with an id and keys")
        try:
            keyset: KeySet = _STORED.load(item)
        except ValidationError as exc:
            path, text = first_error(exc.messages)
            text = "is not a member of a key set or key" if text == "Unknown field" else text
            raise ValueError(f"{here}.{path}: {text[0].lower() + text[1:]}") from None
        first = seen.setdefault(keyset.id.casefold(), index)
        if first != index:
            raise ValueError(
                f"{here}.id: duplicate id {keyset.id!r} (also {at}[{first}]; "
                "ids compare case-insensitively)"
            )
        keysets.append(keyset)
    return keysets
