"""OData query options of the list: parsing, errors, and the next link."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from mockgraph.http.errors import BadRequest
from mockgraph.http.odata import (
    decode_skiptoken,
    encode_skiptoken,
    next_link,
    parse_list_query,
)


def parse(query: str, default_top: int = 100, max_top: int = 999):  # type: ignore[no-untyped-def]
    return parse_list_query(
        parse_qsl(query, keep_blank_values=True), default_top=default_top, max_top=max_top
    )


def test_defaults_apply_without_options() -> None:
    q = parse("")
    assert (q.top, q.skip, q.after, q.descending, q.select) == (100, 0, None, False, None)


def test_dollar_prefix_is_optional_on_beta_and_names_are_case_insensitive() -> None:
    assert parse("top=5").top == 5
    assert parse("$Top=7").top == 7


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1000", "", "1.5"])
def test_bad_top_is_rejected(value: str) -> None:
    with pytest.raises(BadRequest, match=r"\$top"):
        parse(f"$top={value}")


def test_unknown_system_option_is_rejected_but_custom_options_are_ignored() -> None:
    with pytest.raises(BadRequest, match=r"'\$foo' is not supported"):
        parse("$foo=1")
    assert parse("foo=1").top == 100


@pytest.mark.parametrize("option", ["$search=x", "$expand=keys", "search=x"])
def test_options_graph_knows_but_key_sets_do_not_support_are_rejected(option: str) -> None:
    with pytest.raises(BadRequest, match="not supported on key sets"):
        parse(option)


def test_count_true_is_rejected_as_in_b2c_tenants_and_false_is_accepted() -> None:
    with pytest.raises(BadRequest, match="B2C"):
        parse("$count=true")
    assert parse("$count=false").top == 100
    with pytest.raises(BadRequest):
        parse("$count=maybe")


def test_select_accepts_id_and_keys_only() -> None:
    assert parse("$select=keys, id").select == ("id", "keys")
    with pytest.raises(BadRequest, match="'k'"):
        parse("$select=id,k")


def test_orderby_id_and_id_desc() -> None:
    assert parse("$orderby=id").descending is False
    assert parse("$orderby=id desc").descending is True
    with pytest.raises(BadRequest, match="orderby"):
        parse("$orderby=keys")


def test_filter_eq_and_startswith_with_escaped_quotes() -> None:
    assert parse("$filter=id eq 'B2C_1A_o''k'").filter_eq == "B2C_1A_o'k"
    assert parse("$filter=startswith(id, 'B2C_1A_x')").filter_prefix == "B2C_1A_x"
    with pytest.raises(BadRequest, match="filter"):
        parse("$filter=keys/any()")


def test_duplicate_options_are_rejected() -> None:
    with pytest.raises(BadRequest, match="more than once"):
        parse("$top=1&top=2")


def test_skiptoken_round_trips_and_rejects_forgery() -> None:
    assert decode_skiptoken(encode_skiptoken("B2C_1A_x", True)) == ("B2C_1A_x", True)
    with pytest.raises(BadRequest, match="skiptoken"):
        parse("$skiptoken=garbage!!")
    with pytest.raises(BadRequest, match="orderby"):
        parse("$skiptoken=" + encode_skiptoken("B2C_1A_x", True))


def test_next_link_keeps_options_drops_skip_and_adds_a_skiptoken() -> None:
    q = parse("top=2&$select=id&$skip=4&$filter=startswith(id,'B2C_1A_a')")
    link = next_link("http://127.0.0.1:5000/beta/trustFramework/keySets", q, "B2C_1A_ab")
    parts = urlsplit(link)
    assert parts.path == "/beta/trustFramework/keySets"
    params = dict(parse_qsl(parts.query))
    assert params["top"] == "2" and params["$select"] == "id"
    assert "$skip" not in params
    assert params["$filter"] == "startswith(id,'B2C_1A_a')"
    assert decode_skiptoken(params["$skiptoken"]) == ("B2C_1A_ab", False)
