"""Key set bodies and state documents -> typed values: the marshmallow schemas of every
keySets operation that takes a body, and of the key sets of a state document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

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
ID_PATTERN = KEYSET_ID_PATTERN.removesuffix("$") + r"\Z"
#: What a redacted dump holds in place of a secret: such a file does not load back.
REDACTED = "<redacted>"
_USE = validate.OneOf(["sig", "enc"])


def _text() -> fields.String:
    return fields.String(allow_none=True, load_default=None)


class KeySchema(GraphSchema):
    """One trustFrameworkKey (a JSON Web Key): strings or null, ``x5c`` a list of strings,
    ``nbf``/``exp`` Int64."""

    kid, kty, use, x5t, e, n = _text(), _text(), _text(), _text(), _text(), _text()
    d, p, q, dp, dq, qi, k = _text(), _text(), _text(), _text(), _text(), _text(), _text()
    x5c = fields.List(fields.String(), allow_none=True, load_default=None)
    nbf, exp = int64(), int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Key:
        if data.get("x5c") is not None:
            data["x5c"] = tuple(data["x5c"])
        return Key(**data)


class StoredKeySchema(KeySchema):
    """A key in a state document: with its keys_v2 ``status``, never a redacted secret."""

    status = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(STATUSES))

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        if field_name in SECRET_FIELDS:
            field_obj.validators.append(
                validate.NoneOf(
                    [REDACTED],
                    error="is redacted; dump the state with its secrets to get a file that loads",
                )
            )


def _checked(keys: tuple[Key, ...]) -> tuple[Key, ...]:
    problem = key_problems(keys)
    if problem is not None:
        index, member, text = problem
        raise ValidationError({"keys": {index: {member: [text]}}})
    return keys


class KeySetSchema(GraphSchema):
    """The members of a key set a body may hold: ``id`` and ``keys``."""

    id = fields.String(validate=validate.Regexp(ID_PATTERN, error="not a valid key set id"))
    keys = fields.List(fields.Nested(KeySchema), allow_none=True, load_default=None)


class CreateKeySetSchema(KeySetSchema):
    id = fields.String(
        required=True, validate=validate.Regexp(ID_PATTERN, error="not a valid key set id")
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> KeySet:
        return KeySet(with_prefix(data["id"]), _checked(tuple(data.get("keys") or ())))


@dataclass(frozen=True)
class UpdateKeySet:
    id: str | None
    #: ``None`` when the body has no ``keys``: PUT then empties the set, PATCH keeps it.
    keys: tuple[Key, ...] | None


class UpdateKeySetSchema(KeySetSchema):
    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> UpdateKeySet:
        keys = data.get("keys")
        return UpdateKeySet(data.get("id"), None if keys is None else _checked(tuple(keys)))


class StoredKeySetSchema(KeySetSchema):
    """A key set of a state document."""

    id = fields.String(
        required=True,
        validate=validate.Regexp(
            ID_PATTERN, error="is not a valid key set id (1-256 letters, digits, '_', '.', '-')"
        ),
    )
    keys = fields.List(fields.Nested(StoredKeySchema), allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> KeySet:
        return KeySet(with_prefix(data["id"]), _checked(tuple(data.get("keys") or ())))


@dataclass(frozen=True)
class NewKey:
    """generateKey's and uploadSecret's parameters."""

    use: str
    kty: str
    nbf: int | None
    exp: int | None
    k: str | None = None


class GenerateKeySchema(GraphSchema):
    use = fields.String(required=True, validate=_USE)
    kty = fields.String(required=True)
    nbf, exp = int64(), int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> NewKey:
        kty = next((t for t in KEY_TYPES if t.lower() == data["kty"].lower()), None)
        if kty is None:
            raise ValidationError("must be one of: RSA, oct", field_name="kty")
        _bounds(data)
        return NewKey(data["use"], kty, data["nbf"], data["exp"])


class UploadSecretSchema(GraphSchema):
    use = fields.String(required=True, validate=_USE)
    k = fields.String(required=True, validate=validate.Length(min=1))
    nbf, exp = int64(), int64()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> NewKey:
        _bounds(data)
        return NewKey(data["use"], "oct", data["nbf"], data["exp"], data["k"])


def _bounds(data: dict[str, Any]) -> None:
    if data["nbf"] is not None and data["exp"] is not None and data["nbf"] > data["exp"]:
        raise ValidationError("must not be later than 'exp'", field_name="nbf")


@dataclass(frozen=True)
class Upload:
    """uploadCertificate's and uploadPkcs12's parameters."""

    key: str
    password: str | None = None


class UploadCertificateSchema(GraphSchema):
    key = fields.String(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Upload:
        return Upload(data["key"])


class UploadPkcs12Schema(GraphSchema):
    key = fields.String(required=True)
    password = fields.String(allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Upload:
        return Upload(data["key"], data["password"])


class UpdateKeyV2Schema(GraphSchema):
    status = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(STATUSES))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> str | None:
        status: str | None = data["status"]
        return status


class InvalidKeySets(ValueError):
    """Key sets of a state document that cannot be loaded; the message names where and what."""


_STORED = StoredKeySetSchema()


def parse_state(items: Any, at: str) -> list[KeySet]:
    """The key sets of a state document's ``keySets`` member; raises :class:`InvalidKeySets`
    with a message ``"<at>[i].<path>: <problem>"`` (never quoting a value: it may be secret)."""
    if not isinstance(items, list):
        raise InvalidKeySets(f"{at}: must be a list of key sets")
    keysets: list[KeySet] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        here = f"{at}[{index}]"
        if not isinstance(item, dict):
            raise InvalidKeySets(f"{here}: must be an object with an id and keys")
        try:
            keyset: KeySet = _STORED.load(item)
        except ValidationError as exc:
            path, text = first_error(exc.messages)
            if text == "Unknown field":
                text = "is not a member of a key set or key"
            raise InvalidKeySets(f"{here}.{path}: {text[0].lower() + text[1:]}") from None
        first = seen.setdefault(keyset.id.casefold(), index)
        if first != index:
            raise InvalidKeySets(
                f"{here}.id: duplicate id {keyset.id!r} (also {at}[{first}]; "
                "ids compare case-insensitively)"
            )
        keysets.append(keyset)
    return keysets
