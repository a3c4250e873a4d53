"""Deep nesting against the served mock: arrays, objects and both in every field of every
operation's body, in query options (brackets, parentheses, JSON, a ``$skiptoken`` of a nested
JSON text), up to 10,000 levels. Each is refused with Graph's 400 and changes nothing.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from attacks.served import (
    KEYSETS,
    Served,
)
from attacks.targets import (
    Attack,
    Target,
    fuzz,
    inject,
    nesting,
    positions,
    run,
    skiptoken,
    with_body,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


DEPTHS = st.sampled_from([2, 63, 64, 65, 100, 990, 3000, 10_000])


@st.composite
def nested_in_a_body(draw: st.DrawFn, targets: list[Target]) -> Attack:
    target = draw(st.sampled_from(with_body(targets)))
    values = [(p, k) for p, k in positions(target.body) if k == "value"]
    place, _ = draw(st.sampled_from(values))
    fragment = nesting(draw(DEPTHS), draw(st.sampled_from(["array", "object", "mixed"])))
    return Attack(
        draw(st.sampled_from(target.methods)),
        target.url(draw(st.integers(0, 7))),
        inject(target.body, place, "value", fragment),
        token=target.token,
        refused=True,
    )


@st.composite
def nested_in_a_query_option(draw: st.DrawFn, targets: list[Target]) -> Attack:
    target = draw(st.sampled_from([t for t in targets if t.query]))
    option = draw(st.sampled_from([*target.query, "$filter", "$select"]))
    depth = min(draw(DEPTHS), 3000)
    shape = draw(st.sampled_from(["brackets", "parens", "json", "skiptoken-json"]))
    if shape == "brackets":
        value = "[" * depth + "]" * depth
    elif shape == "parens":
        value = "(" * depth + "id eq 'x'" + ")" * depth
    elif shape == "json":
        value = nesting(depth, "mixed").decode()
    else:
        option = "$skiptoken"
        data = b'{"a":' + nesting(depth, "array") + b',"d":false}'
        value = base64.urlsafe_b64encode(data).decode().rstrip("=")
    url = target.url(0) + f"?{quote(option, safe='$')}={quote(value, safe='')}"
    return Attack(draw(st.sampled_from(target.methods)), url, token=target.token)


@fuzz(500)
@given(data=st.data())
def test_no_deeply_nested_field_or_query_option_gets_a_5xx_or_changes_the_store(
    served: Served, targets: list[Target], data: st.DataObject
) -> None:
    run(served, data.draw(nested_in_a_body(targets) | nested_in_a_query_option(targets)))


def test_a_skiptoken_of_3000_nested_brackets_is_refused(served: Served) -> None:
    for value in ("[" * 3000 + "]" * 3000, "[" * 3000):
        for token in (quote(value, safe=""), skiptoken(nesting(3000, "array"), True, False)):
            target = f"{KEYSETS}?$skiptoken={token}"
            run(served, Attack("GET", target, refused=True, says="$skiptoken is not valid"))


@pytest.mark.parametrize("depth", [65, 990, 10_000])
def test_a_body_nested_too_deep_is_refused_by_its_depth(served: Served, depth: int) -> None:
    body = b'{"id": "Deep", "keys": ' + nesting(depth, "array") + b"}"
    run(served, Attack("POST", KEYSETS, body, refused=True, says="nested more than 64"))
