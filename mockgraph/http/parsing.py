"""Request bodies -> typed values: the body read as JSON (size, content type, the one codec),
then typed by a marshmallow schema. Every problem is a GraphError (400, 413 or 415) naming the
property path; marshmallow's and the codec's exceptions never leave this module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Request
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from mockgraph.http.codec import JsonProblem, decode
from mockgraph.http.contracts import property_path
from mockgraph.http.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


def is_json(content_type: str | None) -> bool:
    """Whether a content type is JSON (``application/json`` or ``*+json``, any parameters)."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


def read_json(req: Request, limit: int) -> Any:
    """The JSON value of a request body that must be JSON."""
    data = req.get_data(cache=True)
    if len(data) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    if not data.strip():
        raise BadRequest("A JSON request body is required.")
    if not is_json(req.content_type):
        raise UnsupportedMediaType("The request body must be sent as 'application/json'.")
    try:
        return decode(data)
    except JsonProblem as problem:
        raise BadRequest(f"The request body {problem}.") from None


def read_object(req: Request, limit: int) -> dict[str, Any]:
    """:func:`read_json` of a body that must be a JSON object."""
    body = read_json(req, limit)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


class GraphSchema(Schema):
    """A closed schema (unknown members refused) that ignores the OData annotations SDKs send
    (``@odata.type``)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _drop_annotations(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping) and any(str(k).startswith("@odata.") for k in data):
            return {k: v for k, v in data.items() if not str(k).startswith("@odata.")}
        return data


class JsonInteger(fields.Integer):
    """An integer as JSON Schema counts them: ``5`` and ``5.0``, not ``"5"``, ``5.5``, ``true``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


def int64() -> fields.Integer:
    """An optional Int64 member (``nbf``, ``exp``)."""
    bounds = validate.Range(min=-(2**63), max=2**63 - 1, error="out of range")
    return JsonInteger(strict=True, allow_none=True, load_default=None, validate=bounds)


def load(schema: Schema, body: Mapping[str, Any]) -> Any:
    """Typed values of ``body``; :class:`BadRequest` names the first bad property path."""
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise BadRequest(first_message(exc.messages)) from None


def first_error(messages: Any, path: tuple[str | int, ...] = ()) -> tuple[str, str]:
    """The first of marshmallow's error messages, in order: its property path and its text."""
    if isinstance(messages, dict) and messages:
        key = min(messages, key=str)
        return first_error(messages[key], path if key == "_schema" else (*path, key))
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], dict | list):
            return first_error(messages[0], path)
        return property_path(path), str(messages[0]).rstrip(".")
    return property_path(path), "is invalid"


def first_message(messages: Any) -> str:
    """One sentence for marshmallow's error messages, naming the first property path."""
    where, text = first_error(messages)
    if text == "Unknown field":
        return f"The property '{where}' does not exist on this resource."
    if text.startswith("Missing data for required field"):
        return f"The property '{where}' is required."
    if not where:
        return f"{text}."
    if not text.startswith(("is ", "must ")):
        text = "is invalid: " + text[0].lower() + text[1:]
    return f"The property '{where}' {text}."
