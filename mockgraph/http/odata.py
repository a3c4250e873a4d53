"""OData query options parsed into a :class:`Query`, and the ``@odata.nextLink`` of a page.

On beta the ``$`` prefix is optional and names match in any case (``concepts/query-parameters.md``).
An unsupported, malformed or repeated system option is a :class:`BadRequest`; custom options are
the client's business (OData 4.01, 5.2).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from mockgraph.http.codec import decode, encode
from mockgraph.http.errors import BadRequest

SYSTEM_OPTIONS = frozenset(
    {"top", "skip", "skiptoken", "select", "orderby", "filter", "count", "search", "expand"}
    | {"format", "apply", "compute", "levels", "deltatoken", "index"}
)
#: The options of a collection that can be paged; a single item takes ``select`` only.
PAGING = frozenset({"top", "skip", "skiptoken", "select", "orderby", "filter", "count"})
#: concepts/query-parameters.md: "Use of $count is not supported in Azure AD B2C tenants".
NO_COUNT = "Query option '$count' is not supported in Azure AD B2C tenants."

_STRING = r"'((?:[^']|'')*)'"
_FILTER = re.compile(
    rf"^\s*(?:id\s+eq\s+{_STRING}|startswith\(\s*id\s*,\s*{_STRING}\s*\))\s*$", re.IGNORECASE
)
_BAD_FILTER = (
    "Invalid filter clause: only \"id eq '...'\" and \"startswith(id,'...')\" are supported."
)
_ORDERBY = re.compile(r"^\s*id(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"\s*\d{1,9}\s*")
_CURSORS = frozenset({"skip", "skiptoken"})


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
    #: The system options as the client gave them (``top`` or ``$top``), for the next link.
    given: tuple[tuple[str, str], ...] = ()


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
    system option is refused. ``$select`` may name the ``selectable`` properties of
    ``type_name``. Raises :class:`BadRequest`."""
    values: dict[str, str] = {}
    given: list[tuple[str, str]] = []
    for raw, value in args:
        name = raw.removeprefix("$").lower()
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
        given.append((raw, value))
    if values.get("count", "false").strip().lower() != "false":
        raise BadRequest("Query option '$count' must be true or false.")
    descending = False
    if "orderby" in values:
        if not (match := _ORDERBY.match(values["orderby"])):
            raise BadRequest("Only '$orderby=id' and '$orderby=id desc' are supported.")
        descending = (match[1] or "").lower() == "desc"
    after = None
    if "skiptoken" in values:
        after, token_descending = decode_skiptoken(values["skiptoken"])
        if token_descending != descending:
            raise BadRequest("The $skiptoken does not belong to this $orderby.")
    select = None
    if "select" in values:
        parts = [p.strip() for p in values["select"].split(",")]
        for part in parts:
            if part not in selectable:
                raise BadRequest(f"Could not find a property named '{part}' on type '{type_name}'.")
        select = tuple(p for p in selectable if p in parts)
    filter_eq = filter_prefix = None
    if "filter" in values:
        if not (match := _FILTER.match(values["filter"])):
            raise BadRequest(_BAD_FILTER)
        filter_eq, filter_prefix = (m and m.replace("''", "'") for m in match.groups())
    return Query(
        top=_integer(values, "top", default_top, low=1, high=max_top),
        skip=_integer(values, "skip", 0, low=0),
        after=after,
        descending=descending,
        select=select,
        filter_eq=filter_eq,
        filter_prefix=filter_prefix,
        given=tuple(given),
    )


def _integer(
    values: dict[str, str], name: str, default: int, *, low: int, high: int | None = None
) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not _NUMBER.fullmatch(raw):
        raise BadRequest(f"Invalid value for query option '${name}': expected an integer.")
    if int(raw) < low or (high is not None and int(raw) > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise BadRequest(f"Invalid value for query option '${name}': it must be {bound}.")
    return int(raw)


def encode_skiptoken(after: str, descending: bool) -> str:
    """An opaque cursor: the last id served and the direction."""
    return base64.urlsafe_b64encode(encode({"a": after, "d": descending})).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[str, bool]:
    """Inverse of :func:`encode_skiptoken`; a token not made by it raises :class:`BadRequest`."""
    try:
        data = decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:  # binascii's errors and the codec's JsonProblem among them
        data = None
    match data:
        case {"a": str(after), "d": bool(descending)}:
            return after, descending
    raise BadRequest("The $skiptoken is not valid.")


def next_link(base_url: str, query: Query, *, last_id: str | None = None, skip: int = 0) -> str:
    """The absolute URL of the next page: the request's options as the client gave them, and a
    cursor (``$skiptoken`` after ``last_id``) or, for a list without ids, ``$skip``."""
    params = [(raw, v) for raw, v in query.given if raw.removeprefix("$").lower() not in _CURSORS]
    if last_id is not None:
        params.append(("$skiptoken", encode_skiptoken(last_id, query.descending)))
    else:
        params.append(("$skip", str(skip)))
    return base_url + "?" + urlencode(params, safe="$'(),")
