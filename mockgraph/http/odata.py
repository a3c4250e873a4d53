"""OData query options of the key set list: ``$top``, ``$skip``, ``$skiptoken``, ``$select``,
``$orderby``, ``$filter``, ``$count`` parsed into one :class:`ListQuery`, and the
``@odata.nextLink`` that continues it.

Per ``concepts/query-parameters.md``, on the beta endpoint the ``$`` prefix is optional; option
names are matched case-insensitively. Unknown or malformed system options raise
:class:`mockgraph.http.errors.BadRequest`, as Graph answers them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from mockgraph.http.errors import BadRequest

SUPPORTED = ("top", "skip", "skiptoken", "select", "orderby", "filter", "count")
#: Options Graph knows but this resource does not support.
UNSUPPORTED = ("search", "expand", "format", "apply", "compute", "levels", "deltatoken", "index")
SELECTABLE = ("id", "keys")

_STRING = r"'((?:[^']|'')*)'"
_EQ = re.compile(r"^\s*id\s+eq\s+" + _STRING + r"\s*$", re.IGNORECASE)
_STARTSWITH = re.compile(r"^\s*startswith\(\s*id\s*,\s*" + _STRING + r"\s*\)\s*$", re.IGNORECASE)
_ORDERBY = re.compile(r"^\s*id(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for."""

    top: int
    skip: int = 0
    after: str | None = None
    descending: bool = False
    select: tuple[str, ...] | None = None
    filter_eq: str | None = None
    filter_prefix: str | None = None
    #: The options as the client named them (``top`` or ``$top``), for the next link.
    names: tuple[tuple[str, str], ...] = ()


def _option_name(raw: str) -> str | None:
    """``$Top`` / ``top`` -> ``top``; ``None`` for a non-system (custom) option."""
    name = raw[1:] if raw.startswith("$") else raw
    lowered = name.lower()
    if lowered in SUPPORTED or lowered in UNSUPPORTED:
        return lowered
    if raw.startswith("$"):
        raise BadRequest(f"Query option '{raw}' is not supported.")
    return None


def parse_list_query(
    args: Iterable[tuple[str, str]], *, default_top: int, max_top: int
) -> ListQuery:
    """Parse the query string pairs of ``GET /keySets``; raises :class:`BadRequest`."""
    values: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    for raw, value in args:
        name = _option_name(raw)
        if name is None:
            continue  # custom query options are the client's business (OData 4.01, 5.2)
        if name in UNSUPPORTED:
            raise BadRequest(f"Query option '{raw}' is not supported on key sets.")
        if name in values:
            raise BadRequest(f"Query option '{raw}' was given more than once.")
        values[name] = value
        names.append((name, raw))

    top = _integer(values, "top", default_top, low=1, high=max_top)
    skip = _integer(values, "skip", 0, low=0, high=None)
    count = values.get("count")
    if count is not None:
        if count.lower() == "true":
            # concepts/query-parameters.md: "Use of $count is not supported in Azure AD B2C
            # tenants", which is where key sets live; the OpenAPI's $count is generic.
            raise BadRequest("Query option '$count' is not supported in Azure AD B2C tenants.")
        if count.lower() != "false":
            raise BadRequest("Query option '$count' must be true or false.")

    select = None
    if "select" in values:
        parts = tuple(p.strip() for p in values["select"].split(","))
        for part in parts:
            if part not in SELECTABLE:
                raise BadRequest(
                    f"Could not find a property named '{part}' on type "
                    "'microsoft.graph.trustFrameworkKeySet'."
                )
        select = tuple(p for p in SELECTABLE if p in parts)

    descending = False
    if "orderby" in values:
        match = _ORDERBY.match(values["orderby"])
        if not match:
            raise BadRequest("Only '$orderby=id' and '$orderby=id desc' are supported on key sets.")
        descending = (match.group(1) or "").lower() == "desc"

    filter_eq = filter_prefix = None
    if "filter" in values:
        expression = values["filter"]
        if m := _EQ.match(expression):
            filter_eq = m.group(1).replace("''", "'")
        elif m := _STARTSWITH.match(expression):
            filter_prefix = m.group(1).replace("''", "'")
        else:
            raise BadRequest(
                "Invalid filter clause: only \"id eq '...'\" and \"startswith(id,'...')\" "
                "are supported on key sets."
            )

    after = None
    if "skiptoken" in values:
        after, token_desc = decode_skiptoken(values["skiptoken"])
        if token_desc != descending:
            raise BadRequest("The $skiptoken does not belong to this $orderby.")
    return ListQuery(
        top=top,
        skip=skip,
        after=after,
        descending=descending,
        select=select,
        filter_eq=filter_eq,
        filter_prefix=filter_prefix,
        names=tuple(names),
    )


def _integer(values: dict[str, str], name: str, default: int, *, low: int, high: int | None) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\s*\d{1,9}\s*", raw):
        raise BadRequest(f"Invalid value '{raw}' for query option '${name}': expected an integer.")
    number = int(raw)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"Invalid value '{raw}' for query option '${name}': it must be {bound}.")
    return number


def encode_skiptoken(after: str, descending: bool) -> str:
    """An opaque cursor: the last id served and the direction."""
    raw = json.dumps({"a": after, "d": descending}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[str, bool]:
    """Inverse of :func:`encode_skiptoken`; a token not made by it raises :class:`BadRequest`."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, descending = data["a"], data["d"]
        if isinstance(after, str) and isinstance(descending, bool):
            return after, descending
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise BadRequest("The $skiptoken is not valid.")


def next_link(base_url: str, query: ListQuery, last_id: str) -> str:
    """The absolute URL of the next page: every option of the request as the client named it,
    ``$skip`` consumed, and a fresh ``$skiptoken``."""
    params: list[tuple[str, str]] = []
    for name, raw in query.names:
        if name in {"skip", "skiptoken"}:
            continue
        params.append((raw, _value(query, name)))
    params.append(("$skiptoken", encode_skiptoken(last_id, query.descending)))
    return base_url + "?" + urlencode(params, safe="$'(),")


def _value(query: ListQuery, name: str) -> str:
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
