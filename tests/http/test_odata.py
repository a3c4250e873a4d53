"""OData query options: parsing, errors, and the next link."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qsl, urlsplit

import pytest

from mockgraph.http.errors import BadRequest
from mockgraph.http.odata import (
    NO_COUNT,
    PAGING,
    Query,
    decode_skiptoken,
    encode_skiptoken,
    next_link,
    parse_query,
)

TYPE = "microsoft.graph.trustFrameworkKeySet"


def parse(
    query: str,
    supported: Collection[str] = PAGING,
    default_top: int = 100,
    max_top: int = 999,
) -> Query:
    return parse_query(
        parse_qsl(query, keep_blank_values=True),
        supported=supported,
        selectable=("id", "keys"),
        type_name=TYPE,
        default_top=default_top,
        max_top=max_top,
    )


def refused(query: str, supported: Collection[str] = PAGING, max_top: int = 999) -> str:
    with pytest.raises(BadRequest) as caught:
        parse(query, supported, max_top=max_top)
    return caught.value.message


def test_defaults_apply_without_options() -> None:
    q = parse("", default_top=7)
    assert (q.top, q.skip, q.after, q.descending, q.select) == (7, 0, None, False, None)


def test_dollar_prefix_is_optional_on_beta_and_names_are_case_insensitive() -> None:
    assert parse("top=5").top == 5
    assert parse("$Top=7").top == 7


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1000", "", "1.5"])
def test_a_bad_top_is_refused_without_quoting_the_value(value: str) -> None:
    message = refused(f"$top={value}")
    assert message.startswith("Invalid value for query option '$top'")
    if value:
        assert f"'{value}'" not in message


def test_the_largest_top_is_the_configured_one() -> None:
    assert parse("$top=50", max_top=50).top == 50
    assert "between 1 and 50" in refused("$top=51", max_top=50)


def test_an_unknown_system_option_is_refused_but_custom_options_are_ignored() -> None:
    assert refused("$foo=1") == "Query option '$foo' is not supported."
    assert parse("foo=1").top == 100


@pytest.mark.parametrize("option", ["$search=x", "$expand=keys", "search=x"])
def test_options_graph_knows_but_the_resource_does_not_support_are_refused(option: str) -> None:
    name = option.split("=")[0]
    assert refused(option) == f"Query option '{name}' is not supported on this resource."


def test_an_item_takes_select_only() -> None:
    assert parse("$select=id", supported={"select"}).select == ("id",)
    message = refused("$top=1", supported={"select"})
    assert message == "Query option '$top' is not supported on this resource."


def test_count_true_is_refused_as_in_b2c_tenants_and_false_is_accepted() -> None:
    assert refused("$count=true") == NO_COUNT
    assert "B2C" in NO_COUNT
    assert parse("$count=false").top == 100
    assert refused("$count=maybe") == "Query option '$count' must be true or false."


def test_select_names_the_resource_s_properties_only() -> None:
    assert parse("$select=keys, id").select == ("id", "keys")
    message = refused("$select=id,k")
    assert message == f"Could not find a property named 'k' on type '{TYPE}'."


def test_orderby_id_and_id_desc_and_nothing_else() -> None:
    assert parse("$orderby=id").descending is False
    assert parse("$orderby=id desc").descending is True
    assert parse("$orderby=ID ASC").descending is False
    expected = "Only '$orderby=id' and '$orderby=id desc' are supported."
    assert refused("$orderby=keys") == expected


def test_filter_eq_and_startswith_with_escaped_quotes() -> None:
    assert parse("$filter=id eq 'B2C_1A_o''k'").filter_eq == "B2C_1A_o'k"
    assert parse("$filter=startswith(id, 'B2C_1A_x')").filter_prefix == "B2C_1A_x"
    assert refused("$filter=keys/any()").startswith("Invalid filter clause")


def test_an_option_given_twice_is_refused() -> None:
    assert refused("$top=1&top=2") == "Query option 'top' was given more than once."


def test_a_skiptoken_round_trips_and_a_forged_one_is_refused() -> None:
    assert decode_skiptoken(encode_skiptoken("B2C_1A_x", True)) == ("B2C_1A_x", True)
    assert refused("$skiptoken=garbage!!") == "The $skiptoken is not valid."
    assert "orderby" in refused("$skiptoken=" + encode_skiptoken("B2C_1A_x", True))


def test_the_next_link_keeps_the_options_drops_skip_and_adds_a_skiptoken() -> None:
    q = parse("top=2&$select=id&$skip=4&$filter=startswith(id,'B2C_1A_a')")
    base = "http://127.0.0.1:5000/beta/trustFramework/keySets"
    parts = urlsplit(next_link(base, q, last_id="B2C_1A_ab"))
    assert parts.path == "/beta/trustFramework/keySets"
    params = dict(parse_qsl(parts.query))
    assert params["top"] == "2" and params["$select"] == "id"
    assert "$skip" not in params
    assert params["$filter"] == "startswith(id,'B2C_1A_a')"
    assert decode_skiptoken(params["$skiptoken"]) == ("B2C_1A_ab", False)


def test_the_next_link_of_a_list_without_ids_continues_with_skip() -> None:
    q = parse("$top=1", supported={"top", "skip"})
    params = dict(parse_qsl(urlsplit(next_link("http://h/beta/x", q, skip=3)).query))
    assert params == {"$top": "1", "$skip": "3"}
