"""OData query options: ``$top``, ``$skip``, ``$skiptoken``, ``$select``, ``$orderby``,
``$filter`` and ``$count``, parsed into a :class:`Query`, and the ``@odata.nextLink`` that
continues a page.

Per ``concepts/query-parameters.md``, on the beta endpoint the ``$`` prefix is optional; option
names are matched case-insensitively. An option an operation does not support, a malformed one,
or one given twice is a :class:`~mockgraph.http.errors.BadRequest`, as Graph answers them;
other (custom) options are the client's business (OData 4.01, 5.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from mockgraph.http.codec import JsonProblem, decode, encode
from mockgraph.http.errors import BadRequest

SYSTEM_OPTIONS = frozenset(
    {"top", "skip", "skiptoken", "select", "orderby", "filter", "count", "search", "expand"}
    | {"format", "apply", "compute", "levels", "deltatoken", "index"}
)
#: The options of a collection that can be paged; a single item takes ``select`` only.
PAGING = frozenset({"top", "skip", "skiptoken", "select", "orderby", "filter", "count"})
#: concepts/query-parameters.md: "Use of $count is not supported in Azure AD B2C tenants",
#: which is where these resources live (the generic OpenAPI lists it).
NO_COUNT = "Query option '$count' is not supported in Azure AD B2C tenants."

_STRING = r"'((?:[^']|'')*)'"
_EQ = re.compile(r"^\s*id\s+eq\s+" + _STRING + r"\s*$", re.IGNORECASE)
_STARTSWITH = re.compile(r"^\s*startswith\(\s*id\s*,\s*" + _STRING + r"\s*\)\s*$", re.IGNORECASE)
_ORDERBY = re.compile(r"^\s*id(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"\s*\d{1,9}\s*")


@dataclass(frozen=True)
class Query:
    """What a request asks for with its query options."""

    top: int
    skip: int = 0
    after: str | None = None
    descending: bool = False
    select: tuple[str, ...] | None = None
    filter_eq: str | None = None
    filter_prefix: str | None = None
    #: The options as the client named them (``top`` or ``$top``), for the next link.
    names: tuple[tuple[str, str], ...] = ()


def parse_query(
    args: Iterable[tuple[str, str]],
    *,
    supported: Collection[str],
    selectable: Collection[str],
    type_name: str,
    default_top: int = 100,
    max_top: int = 999,
) -> Query:
    """The options of ``args`` (the query string's pairs) that ``supported`` names; any other
    system option is refused. ``selectable`` are the properties ``$select`` may name and
    ``type_name`` their type (``microsoft.graph.trustFrameworkKeySet``) for the message."""
    values: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    for raw, value in args:
        bare = raw[1:] if raw.startswith("$") else raw
        name = bare.lower()
        if name not in SYSTEM_OPTIONS:
            if raw.startswith("$"):
                raise BadRequest(f"Query option '{raw}' is not supported.")
            continue
        if name == "count" and "count" in supported and value.strip().lower() == "true":
            raise BadRequest(NO_COUNT)
        if name not in supported:
            raise BadRequest(f"Query option '{raw}' is not supported on this resource.")
        if name in values:
            raise BadRequest(f"Query option '{raw}' was given more than once.")
        values[name] = value
        names.append((name, raw))
    if values.get("count", "false").strip().lower() != "false":
        raise BadRequest("Query option '$count' must be true or false.")
    descending = False
    if "orderby" in values:
        match = _ORDERBY.match(values["orderby"])
        if not match:
            raise BadRequest("Only '$orderby=id' and '$orderby=id desc' are supported.")
        descending = (match.group(1) or "").lower() == "desc"
    after = None
    if "skiptoken" in values:
        after, token_desc = decode_skiptoken(values["skiptoken"])
        if token_desc != descending:
            raise BadRequest("The $skiptoken does not belong to this $orderby.")
    filter_eq, filter_prefix = _filter(values.get("filter"))
    return Query(
        top=_integer(values, "top", default_top, low=1, high=max_top),
        skip=_integer(values, "skip", 0, low=0, high=None),
        after=after,
        descending=descending,
        select=_select(values.get("select"), selectable, type_name),
        filter_eq=filter_eq,
        filter_prefix=filter_prefix,
        names=tuple(names),
    )


def _select(raw: str | None, selectable: Collection[str], type_name: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",")]
    for part in parts:
        if part not in selectable:
            raise BadRequest(f"Could not find a property named '{part}' on type '{type_name}'.")
    return tuple(p for p in selectable if p in parts)


def _filter(expression: str | None) -> tuple[str | None, str | None]:
    if expression is None:
        return None, None
    if m := _EQ.match(expression):
        return m.group(1).replace("''", "'"), None
    if m := _STARTSWITH.match(expression):
        return None, m.group(1).replace("''", "'")
    raise BadRequest(
        "Invalid filter clause: only \"id eq '...'\" and \"startswith(id,'...')\" are supported."
    )


def _integer(values: dict[str, str], name: str, default: int, *, low: int, high: int | None) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not _NUMBER.fullmatch(raw):
        raise BadRequest(f"Invalid value for query option '${name}': expected an integer.")
    number = int(raw)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"Invalid value for query option '${name}': it must be {bound}.")
    return number


def encode_skiptoken(after: str, descending: bool) -> str:
    """An opaque cursor: the last id served and the direction."""
    return base64.urlsafe_b64encode(encode({"a": after, "d": descending})).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[str, bool]:
    """Inverse of :func:`encode_skiptoken`; a token not made by it raises :class:`BadRequest`."""
    try:
        data = decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(data, dict) and isinstance(data.get("a"), str):
            if isinstance(data.get("d"), bool):
                return data["a"], data["d"]
    except (ValueError, JsonProblem, binascii.Error):
        pass
    raise BadRequest("The $skiptoken is not valid.")


def next_link(base_url: str, query: Query, *, last_id: str | None = None, skip: int = 0) -> str:
    """The absolute URL of the next page: the request's options as the client named them, and
    a cursor (``$skiptoken`` after ``last_id``) or, for a list without ids, ``$skip``."""
    params: list[tuple[str, str]] = []
    for name, raw in query.names:
        if name not in {"skip", "skiptoken"}:
            params.append((raw, _value(query, name)))
    if last_id is not None:
        params.append(("$skiptoken", encode_skiptoken(last_id, query.descending)))
    else:
        params.append(("$skip", str(skip)))
    return base_url + "?" + urlencode(params, safe="$'(),")


def _value(query: Query, name: str) -> str:
    if name == "top":
        return str(query.top)
    if name == "select":
        return ",".join(query.select or ())
    if name == "orderby":
        return "id desc" if query.descending else "id"
    if name == "filter":
        if query.filter_eq is not None:
            return "id eq '" + query.filter_eq.replace("'", "''") + "'"
        return "startswith(id,'" + (query.filter_prefix or "").replace("'", "''") + "')"
    return "false"  # count
