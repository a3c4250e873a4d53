"""Tests of mockgraph.build: doc pages and the keySet operations -> fixtures and contracts.

The pages under ``tests/docpages/`` are small pages of our own in the Graph docs' Markdown
format: ``site/`` is one docs folder (resources, four operation pages, a page without an
operation), ``later/`` a second folder that redefines the create page's example.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mockgraph.build.assemble import BuildResult, build, check, write
from mockgraph.build.pages import DocWarning
from mockgraph.build.spec import OperationSpec, case_insensitive, operation_specs

REPOSITORY = Path(__file__).resolve().parents[2]
PAGES = REPOSITORY / "tests" / "docpages"
SITE = PAGES / "site"
LATER = PAGES / "later"
#: The Graph doc pages vendored in the repository, as CI builds the contracts from them.
GRAPH_SEED = REPOSITORY / "docs" / "graph" / "seed" / "000_6cf21139c8ac777f.txt"
GRAPH_PAGES = REPOSITORY / "docs" / "graph" / "pages"
#: The keySet operations as ``mockgraph contracts build`` takes them: from the operations table.
KEYSET_OPERATIONS = tuple(operation_specs())
CASE_INSENSITIVE = case_insensitive()


def build_keysets(entries: list[Path]) -> BuildResult:
    """The build of ``entries`` for the keySet operations, as the CLI runs it."""
    return build(entries, KEYSET_OPERATIONS, case_insensitive=CASE_INSENSITIVE)


def line_of(page: Path, needle: str) -> int:
    """1-based number of the first line of ``page`` containing ``needle``."""
    for number, text in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {page}")


def loaded(result: BuildResult, rel: str) -> Any:
    return json.loads(result.files[rel])


def schema(result: BuildResult, operation: str) -> Any:
    return loaded(result, f"schemas/{operation}.json")


def fixture(result: BuildResult, name: str) -> Any:
    return loaded(result, f"fixtures/examples/{name}.json")


def validator(contract: Any, name: str) -> Draft202012Validator:
    root = {"$schema": contract["$schema"], "$defs": contract["$defs"], "$ref": f"#/$defs/{name}"}
    return Draft202012Validator(root)


def warnings_at(result: BuildResult, file: str, line: int) -> list[str]:
    return [w.message for w in result.warnings if (w.file, w.line) == (file, line)]


@pytest.fixture(scope="module")
def site() -> BuildResult:
    return build_keysets([SITE])


# --- annotations, pairing, headers ----------------------------------------------------------


def test_multi_line_annotation_closed_by_brace_arrow_names_the_example(site: BuildResult) -> None:
    make_set = fixture(site, "make_set")
    start = line_of(SITE / "api/create.md", '"name": "make_set"') - 2
    assert make_set["source"] == f"api/create.md:{start}"
    assert make_set["operation"] == "createKeySet"
    assert make_set["documented"] is True


def test_single_line_annotation_names_the_example(site: BuildResult) -> None:
    bare = fixture(site, "make_set_bare")
    assert bare["source"] == f"api/create.md:{line_of(SITE / 'api/create.md', 'make_set_bare')}"
    assert bare["request"]["method"] == "POST"


def test_response_pairs_with_the_request_before_it(site: BuildResult) -> None:
    exchange = fixture(site, "make_set")
    assert exchange["request"]["body"]["id"] == "alpha"
    assert exchange["response"]["status"] == 201
    assert exchange["response"]["body"]["id"] == "B2C_1A_alpha"
    assert exchange["truncated"] is True


def test_request_without_response_is_kept_without_one_and_warned(site: BuildResult) -> None:
    assert fixture(site, "make_set_bare")["response"] is None
    line = line_of(SITE / "api/create.md", "make_set_bare")
    assert "request 'make_set_bare' has no response" in warnings_at(site, "api/create.md", line)


def test_header_names_are_canonicalised(site: BuildResult) -> None:
    exchange = fixture(site, "make_set")
    assert exchange["request"]["headers"] == {"Content-Type": "application/json"}
    assert exchange["response"]["headers"] == {
        "Content-Type": "application/json",
        "Location": "/trustFramework/keySets('B2C_1A_alpha')",
    }


def test_host_is_stripped_and_query_parsed_into_strings(site: BuildResult) -> None:
    request = fixture(site, "make_set_bare")["request"]
    assert request["path"] == "/beta/trustFramework/keySets"
    assert request["query"] == {"$select": "id", "dryRun": ""}
    assert request["body"] is None


def test_placeholder_is_kept_recorded_and_warned_with_file_and_line(site: BuildResult) -> None:
    make_key = fixture(site, "make_key")
    assert make_key["request"]["path"] == "/beta/trustFramework/keySets/{keySetId}/generateKey"
    assert make_key["placeholders"] == ["keySetId"]
    assert make_key["operation"] == "generateKey"
    line = line_of(SITE / "api/generate.md", "POST https://graph.microsoft.com/beta")
    assert any("{keySetId}" in m for m in warnings_at(site, "api/generate.md", line))


def test_relative_request_url_gets_the_beta_prefix_and_a_warning(site: BuildResult) -> None:
    request = fixture(site, "remove_set_ok")["request"]
    assert request["path"] == "/beta/trustFramework/keySets/gamma"
    line = line_of(SITE / "api/remove.md", "DELETE /trustFramework/keySets/gamma")
    assert any("relative request URL" in m for m in warnings_at(site, "api/remove.md", line))


def test_trailing_comma_is_removed_and_warned_at_its_line(site: BuildResult) -> None:
    body = fixture(site, "make_key")["response"]["body"]
    assert body == {"kid": "k1", "kty": "RSA", "use": "enc"}
    line = line_of(SITE / "api/generate.md", '"kid": "k1",')
    assert any("trailing comma" in m for m in warnings_at(site, "api/generate.md", line))


def test_invalid_annotation_json_is_a_warning_and_its_block_is_skipped(
    site: BuildResult,
) -> None:
    line = line_of(SITE / "api/remove.md", '"name": "remove_set", }')
    assert any("not valid JSON" in m for m in warnings_at(site, "api/remove.md", line))
    assert "fixtures/examples/remove_set.json" not in site.files


def test_code_block_without_annotation_is_warned(site: BuildResult) -> None:
    line = line_of(SITE / "api/remove.md", "Without an annotation") + 2
    assert "code block without annotation; ignored" in warnings_at(site, "api/remove.md", line)


def test_page_without_operation_is_warned_once_and_skipped(site: BuildResult) -> None:
    assert [w.message for w in site.warnings if w.file == "notes.md"] == [
        "no recognisable operation or resource; page skipped"
    ]


def test_relative_link_that_resolves_nowhere_is_warned(site: BuildResult) -> None:
    line = line_of(SITE / "resources/keyset.md", "(history.md)")
    messages = warnings_at(site, "resources/keyset.md", line)
    assert "relative link 'history.md' resolves to no page among the docs" in messages
    assert not any("key.md'" in w.message for w in site.warnings)


def test_defective_pages_never_raise(tmp_path: Path) -> None:
    pages = {
        "empty.md": "",
        "open-comment.md": '<!-- { "blockType": "request"',
        "open-fence.md": '<!-- {"blockType": "request", "name": "x"} -->\n```http\nPOST',
        "array.md": "<!-- [1, 2] -->\n```http\nGET /beta/trustFramework/keySets\n```\n",
        "no-method.md": '<!-- {"blockType": "request", "name": "y"} -->\n```http\n\n```\n',
        "no-status.md": (
            '<!-- {"blockType": "request", "name": "z"} -->\n```http\n'
            "GET https://graph.microsoft.com/beta/trustFramework/keySets\n```\n"
            '<!-- {"blockType": "response"} -->\n```http\n{ not json\n```\n'
        ),
        "orphan.md": '<!-- {"blockType": "response"} -->\n```http\nHTTP/1.1 200 OK\n```\n',
        "bad-body.md": (
            '## HTTP request\n<!-- { "blockType": "ignored" } -->\n```http\n'
            "POST /trustFramework/keySets\n```\n"
            '<!-- {"blockType": "request", "name": "w"} -->\n```http\n'
            'POST https://graph.microsoft.com/beta/trustFramework/keySets\n\n{ "id": \n```\n'
        ),
        "table.md": "## Properties\n| Property |\n|---|\n| lonely |\n",
    }
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "junk.txt").write_bytes(b"\xff\xfe\x00<!-- {\xc3 -->")
    result = build_keysets([tmp_path, tmp_path / "missing.md"])
    files = {w.file for w in result.warnings}
    assert {*pages, "junk.txt"} <= files
    assert any("no such file" in w.message for w in result.warnings)


# --- types and schemas ----------------------------------------------------------------------


def test_property_table_types_map_to_json_schema(site: BuildResult) -> None:
    key = schema(site, "createKeySet")["$defs"]["microsoft.graph.trustFrameworkKey.read"]
    props = key["properties"]
    assert props["kid"] == {"type": ["string", "null"]}
    assert props["exp"] == {"type": ["integer", "null"], "format": "int64"}
    assert props["version"] == {
        "type": ["integer", "null"],
        "minimum": -2147483648,
        "maximum": 2147483647,
    }
    assert props["pinned"] == {"type": ["boolean", "null"]}
    assert props["x5c"] == {"type": ["array", "null"], "items": {"type": "string"}}
    assert props["state"] == {
        "type": ["string", "null"],
        "enum": ["on", "off", "unknownFutureValue"],
    }
    key_set = schema(site, "createKeySet")["$defs"]["microsoft.graph.trustFrameworkKeySet"]
    assert key_set["properties"]["keys"] == {
        "type": ["array", "null"],
        "items": {"$ref": "#/$defs/microsoft.graph.trustFrameworkKey"},
    }


def test_entity_key_is_the_only_non_nullable_property(site: BuildResult) -> None:
    key_set = schema(site, "createKeySet")["$defs"]["microsoft.graph.trustFrameworkKeySet.read"]
    assert key_set["properties"]["id"] == {"type": "string"}
    assert "null" in key_set["properties"]["keys"]["type"]


def test_numericdate_typed_int_is_read_as_int64_with_a_warning(site: BuildResult) -> None:
    # Decision: the CSDL and the uploadSecret table say Int64 where the key table says int.
    nbf = schema(site, "createKeySet")["$defs"]["microsoft.graph.trustFrameworkKey"]
    assert nbf["properties"]["nbf"] == {"type": ["integer", "null"], "format": "int64"}
    line = line_of(SITE / "resources/key.md", "| nbf |")
    assert any("read as Int64" in m for m in warnings_at(site, "resources/key.md", line))


def test_object_schemas_are_closed_but_allow_odata_annotations(site: BuildResult) -> None:
    contract = schema(site, "createKeySet")
    request = validator(contract, "request")
    assert request.is_valid({"id": "x", "@odata.type": "#microsoft.graph.trustFrameworkKeySet"})
    assert not request.is_valid({"id": "x", "colour": "red"})
    assert not request.is_valid({"id": "x", "keys": [{"kid": "a", "colour": "red"}]})


def test_secret_is_write_only_and_the_read_variant_rejects_it(site: BuildResult) -> None:
    contract = schema(site, "createKeySet")
    defs = contract["$defs"]
    assert defs["microsoft.graph.trustFrameworkKey"]["properties"]["k"] == {
        "type": ["string", "null"],
        "writeOnly": True,
    }
    assert defs["microsoft.graph.trustFrameworkKey.read"]["properties"]["k"] == {
        "writeOnly": True,
        "not": {},
    }
    response = validator(contract, "response")
    assert response.is_valid({"id": "B2C_1A_a", "keys": [{"kid": "one"}]})
    assert not response.is_valid({"id": "B2C_1A_a", "keys": [{"kid": "one", "k": "c2VjcmV0"}]})
    assert validator(contract, "request").is_valid({"id": "a", "keys": [{"k": "c2VjcmV0"}]})


def test_description_enumerations_constrain_requests_only(site: BuildResult) -> None:
    defs = schema(site, "createKeySet")["$defs"]
    write = defs["microsoft.graph.trustFrameworkKey"]["properties"]
    read = defs["microsoft.graph.trustFrameworkKey.read"]["properties"]
    assert write["use"]["enum"] == ["sig", "enc"]
    assert write["kty"]["pattern"] == "^([Rr][Ss][Aa]|[Oo][Cc][Tt])$"
    assert read["use"] == {"type": ["string", "null"]}
    assert read["kty"] == {"type": ["string", "null"]}
    request = validator(schema(site, "createKeySet"), "request")
    assert request.is_valid({"id": "a", "keys": [{"kty": "RSA", "use": "sig"}]})
    assert request.is_valid({"id": "a", "keys": [{"kty": "oct"}]})
    assert not request.is_valid({"id": "a", "keys": [{"kty": "EC"}]})
    assert not request.is_valid({"id": "a", "keys": [{"use": "encrypt"}]})


def test_create_request_is_the_key_set_with_id_required(site: BuildResult) -> None:
    contract = schema(site, "createKeySet")
    request = contract["$defs"]["request"]
    assert request["$ref"] == "#/$defs/microsoft.graph.trustFrameworkKeySet"
    assert request["required"] == ["id"]
    check = validator(contract, "request")
    assert not check.is_valid({"keys": []})
    # The id pattern is the parser's (models.KEYSET_ID_PATTERN): the contract refuses what
    # the mock would refuse.
    assert check.is_valid({"id": "B2C_1A_ok-1.x"})
    assert not check.is_valid({"id": "a b"})
    assert not check.is_valid({"id": ""})


def test_action_parameters_follow_the_property_they_are_similar_to(site: BuildResult) -> None:
    request = schema(site, "generateKey")["$defs"]["request"]
    props = request["properties"]
    assert props["use"]["enum"] == ["sig", "enc"]
    assert "pattern" in props["kty"]
    # int in the parameter table, but similar to the key's Int64 nbf: widened.
    assert props["nbf"] == {"type": ["integer", "null"], "format": "int64"}
    # No reference: the table's int stays int32.
    assert props["exp"]["maximum"] == 2147483647
    assert request["required"] == ["use", "kty"]
    assert request["additionalProperties"] is False


def test_entity_response_references_the_read_definition(site: BuildResult) -> None:
    contract = schema(site, "generateKey")
    assert contract["$defs"]["response"] == {
        "$ref": "#/$defs/microsoft.graph.trustFrameworkKey.read",
        "properties": {"@odata.context": {"type": "string"}},
    }
    # Only the definitions the operation reaches.
    assert set(contract["$defs"]) == {
        "request",
        "response",
        "microsoft.graph.trustFrameworkKey.read",
    }
    assert validator(contract, "response").is_valid(
        {"@odata.context": "https://graph.microsoft.com/beta/$metadata#x", "kid": "k1"}
    )


def test_collection_response_wraps_read_items_in_value(site: BuildResult) -> None:
    contract = schema(site, "listKeySets")
    meta = contract["x-mockgraph"]
    assert (meta["status"], meta["isCollection"], meta["requestBody"]) == (200, True, False)
    assert "request" not in contract["$defs"]
    response = validator(contract, "response")
    assert response.is_valid(fixture(site, "list_sets")["response"]["body"])
    assert not response.is_valid({"@odata.context": "x"})
    assert not response.is_valid({"value": [{"id": "a", "keys": [{"d": "secret"}]}]})


def test_no_content_operation_has_no_response_schema(site: BuildResult) -> None:
    contract = schema(site, "deleteKeySet")
    meta = contract["x-mockgraph"]
    assert (meta["status"], meta["responseType"], meta["requestBody"]) == (204, None, False)
    assert contract["$defs"] == {}


def test_contract_metadata_names_operation_examples_and_sources(site: BuildResult) -> None:
    contract = schema(site, "createKeySet")
    meta = contract["x-mockgraph"]
    assert contract["$id"] == "urn:mockgraph:contract:createKeySet"
    assert contract["title"] == "createKeySet: POST /trustFramework/keySets"
    assert (meta["operation"], meta["method"], meta["path"]) == (
        "createKeySet",
        "POST",
        "/trustFramework/keySets",
    )
    assert meta["examples"] == ["make_set", "make_set_bare"]
    assert meta["sources"] == sorted(meta["sources"])
    assert f"api/create.md:{line_of(SITE / 'api/create.md', 'make_set_bare')}" in meta["sources"]
    assert schema(site, "generateKey")["x-mockgraph"]["path"] == (
        "/trustFramework/keySets/{id}/generateKey"
    )


def test_permissions_are_split_and_not_supported_is_empty(site: BuildResult) -> None:
    assert schema(site, "createKeySet")["x-mockgraph"]["permissions"] == {
        "delegatedWork": ["Sets.Write.All", "Sets.Admin"],
        "delegatedPersonal": [],
        "application": ["Sets.Admin"],
    }


def test_included_permission_table_gives_empty_lists_and_a_warning(site: BuildResult) -> None:
    assert schema(site, "deleteKeySet")["x-mockgraph"]["permissions"] == {
        "delegatedWork": [],
        "delegatedPersonal": [],
        "application": [],
    }
    line = line_of(SITE / "api/remove.md", "[!INCLUDE [permissions-table]")
    assert any("INCLUDE" in m for m in warnings_at(site, "api/remove.md", line))


def test_every_generated_schema_is_a_valid_draft_2020_12_schema(site: BuildResult) -> None:
    contracts = [name for name in site.files if name.startswith("schemas/")]
    assert len(contracts) == 4
    for name in contracts:
        Draft202012Validator.check_schema(loaded(site, name))


# --- precedence, determinism, sources -------------------------------------------------------


def test_later_docs_entry_wins_and_the_warning_names_both_pages() -> None:
    result = build_keysets([SITE, LATER])
    assert fixture(result, "make_set")["request"]["body"] == {"id": "omega"}
    assert fixture(result, "make_set")["source"].startswith("create.md:")
    earlier = line_of(SITE / "api/create.md", '"name": "make_set"') - 2
    later = line_of(LATER / "create.md", '"name": "make_set"')
    [message] = warnings_at(result, "create.md", later)
    assert f"create.md:{later}" in message and f"api/create.md:{earlier}" in message
    permissions = schema(result, "createKeySet")["x-mockgraph"]["permissions"]
    assert permissions["application"] == ["Sets.Owner"]
    assert any("permissions of createKeySet differ" in w.message for w in result.warnings)


def test_earlier_entry_loses_when_the_order_is_reversed() -> None:
    result = build_keysets([LATER, SITE])
    assert fixture(result, "make_set")["request"]["body"]["id"] == "alpha"


def test_folder_pages_are_read_by_path_components_so_contrib_copies_come_later() -> None:
    # "repo/get.md" before "repo-contrib/get.md" (a plain string sort would swap them), as
    # docs/graph/pages holds microsoft-graph-docs and the newer microsoft-graph-docs-contrib.
    result = build_keysets([PAGES / "order"])
    read_set = fixture(result, "read_set")
    assert read_set["source"].startswith("repo-contrib/get.md:")
    assert read_set["request"]["path"] == "/beta/trustFramework/keySets('repo-contrib')"
    assert read_set["operation"] == "getKeySet"


def test_two_builds_give_identical_text() -> None:
    first, second = build_keysets([SITE, LATER]), build_keysets([SITE, LATER])
    assert first == second
    text = first.files["schemas/createKeySet.json"]
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_source_of_a_file_entry_is_its_file_name() -> None:
    page = SITE / "api" / "generate.md"
    result = build_keysets([SITE / "resources", page])
    start = line_of(page, '"name": "make_key"') - 2
    assert fixture(result, "make_key")["source"] == f"generate.md:{start}"


def test_warning_prints_as_file_line_message() -> None:
    assert str(DocWarning("api/x.md", 3, "oops")) == "api/x.md:3: oops"


# --- write and check ------------------------------------------------------------------------


def test_check_reports_changed_missing_and_stale_files(site: BuildResult, tmp_path: Path) -> None:
    write(site, tmp_path)
    assert check(site, tmp_path) == []
    (tmp_path / "schemas/listKeySets.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "fixtures/examples/make_key.json").unlink()
    (tmp_path / "schemas/oldOperation.json").write_text("{}\n", encoding="utf-8")
    assert check(site, tmp_path) == [
        "fixtures/examples/make_key.json",
        "schemas/listKeySets.json",
        "schemas/oldOperation.json",
    ]


def test_write_rewrites_only_changes_and_removes_stale_files(
    site: BuildResult, tmp_path: Path
) -> None:
    assert write(site, tmp_path) == sorted(site.files)
    assert write(site, tmp_path) == []
    stale = tmp_path / "fixtures/examples/gone.json"
    stale.write_text("{}\n", encoding="utf-8")
    keep = tmp_path / "fixtures/recorded.json"
    keep.write_text("{}\n", encoding="utf-8")
    assert write(site, tmp_path) == ["fixtures/examples/gone.json"]
    assert not stale.exists() and keep.exists()
    for rel, text in site.files.items():
        assert (tmp_path / rel).read_bytes() == text.encode("utf-8")


def test_written_files_get_the_ordinary_mode_not_a_private_one(
    site: BuildResult, tmp_path: Path
) -> None:
    mask = os.umask(0o022)
    try:
        write(site, tmp_path)
    finally:
        os.umask(mask)
    modes = {stat.S_IMODE((tmp_path / rel).stat().st_mode) for rel in site.files}
    assert modes == {0o644}
    assert not list(tmp_path.rglob("*.tmp"))


# --- the operations and their decisions are inputs ------------------------------------------


def replaced(op_id: str, **changes: Any) -> tuple[OperationSpec, ...]:
    """The keySet operations with ``op_id``'s spec changed."""
    return tuple(
        dataclasses.replace(op, **changes) if op.id == op_id else op for op in KEYSET_OPERATIONS
    )


def test_only_the_operations_passed_in_get_contracts_and_examples() -> None:
    without = tuple(op for op in KEYSET_OPERATIONS if op.id != "generateKey")
    result = build([SITE], without)
    assert "schemas/generateKey.json" not in result.files
    assert "fixtures/examples/make_key.json" not in result.files
    assert "schemas/createKeySet.json" in result.files
    line = line_of(SITE / "api/generate.md", "POST /trustFramework/keySets/{keySetId}/generateKey")
    [message] = warnings_at(result, "api/generate.md", line)
    assert message.endswith("matches no keySets operation; page skipped")


def test_warnings_name_the_operations_by_the_path_segment_they_share() -> None:
    policies = (OperationSpec("getPolicy", "GET", "/trustFramework/policies/{id}"),)
    result = build([SITE / "api" / "list.md"], policies)
    line = line_of(SITE / "api/list.md", "GET /trustFramework/keySets")
    assert warnings_at(result, "list.md", line) == [
        "'GET /trustFramework/keySets' matches no policies operation; page skipped"
    ]


def test_required_members_come_from_the_operation_spec() -> None:
    chosen = build([SITE], replaced("generateKey", required=("exp", "use")))
    assert schema(chosen, "generateKey")["$defs"]["request"]["required"] == ["exp", "use"]
    none = build([SITE], replaced("generateKey", required=()))
    assert "required" not in schema(none, "generateKey")["$defs"]["request"]


def test_without_an_entity_id_schema_the_id_is_typed_by_its_resource_page() -> None:
    result = build([SITE], replaced("createKeySet", entity_id_schema=None))
    contract = schema(result, "createKeySet")
    assert "properties" not in contract["$defs"]["request"]
    request = validator(contract, "request")
    assert request.is_valid({"id": "a b"})
    assert not request.is_valid({"keys": []})


def test_secret_parameters_of_the_spec_are_write_only() -> None:
    site = build([SITE], KEYSET_OPERATIONS)
    assert "writeOnly" not in schema(site, "generateKey")["$defs"]["request"]["properties"]["exp"]
    result = build([SITE], replaced("generateKey", secret_parameters=frozenset({"exp"})))
    assert schema(result, "generateKey")["$defs"]["request"]["properties"]["exp"]["writeOnly"]


def test_values_are_case_sensitive_unless_the_property_is_named() -> None:
    exact = build([SITE], KEYSET_OPERATIONS)
    props = schema(exact, "generateKey")["$defs"]["request"]["properties"]
    assert props["kty"]["enum"] == ["rsa", "oct"]
    assert not validator(schema(exact, "generateKey"), "request").is_valid(
        {"use": "sig", "kty": "RSA"}
    )


# --- the real Graph pages -------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> BuildResult:
    return build_keysets([GRAPH_SEED, GRAPH_PAGES])


def test_graph_pages_give_every_operation_a_valid_contract(graph: BuildResult) -> None:
    contracts = {n.split("/")[-1][: -len(".json")] for n in graph.files if n.startswith("schemas/")}
    assert contracts == {op.id for op in KEYSET_OPERATIONS}
    for name in graph.files:
        if name.startswith("schemas/"):
            Draft202012Validator.check_schema(loaded(graph, name))


def test_graph_contracts_accept_the_documented_structural_requests(graph: BuildResult) -> None:
    # Examples whose values are real ones, not "use-value" style placeholders.
    for name in (
        "create_trustframeworkkeyset_from_trustframework1",
        "trustframeworkkeyset_generatekey",
        "trustframeworkkeyset_uploadcertificate",
        "trustframeworkkeyset_uploadpkcs12",
        "update_trustframeworkkey_v2",
    ):
        exchange = fixture(graph, name)
        contract = schema(graph, exchange["operation"])
        errors = list(validator(contract, "request").iter_errors(exchange["request"]["body"]))
        assert errors == [], name
    create = schema(graph, "createKeySet")
    first = fixture(graph, "create_trustframeworkkeyset_from_trustframework1")
    assert validator(create, "response").is_valid(first["response"]["body"])
    assert not validator(create, "request").is_valid({"keys": []})


def test_graph_newer_create_page_wins_over_the_2019_seed(graph: BuildResult) -> None:
    create = schema(graph, "createKeySet")["x-mockgraph"]
    assert create["permissions"]["application"] == ["TrustFrameworkKeySet.ReadWrite.All"]
    example = fixture(graph, "create_trustframeworkkeyset_from_trustframework")
    assert example["request"]["body"]["id"] == "keyset1"
    assert example["source"].startswith("microsoft-graph-docs/api-reference/beta/api/")
    assert any(
        "create_trustframeworkkeyset_from_trustframework" in w.message
        and "000_6cf21139c8ac777f.txt:" in w.message
        for w in graph.warnings
    )


def test_graph_generatekey_trailing_comma_is_repaired(graph: BuildResult) -> None:
    body = fixture(graph, "trustframeworkkeyset_generatekey")["response"]["body"]
    assert body["n"] == "rd54s6"
    assert any(
        w.file.endswith("trustframeworkkeyset-generatekey.md") and "trailing comma" in w.message
        for w in graph.warnings
    )


def test_graph_key_times_are_int64_and_secrets_write_only(graph: BuildResult) -> None:
    defs = schema(graph, "getActiveKey")["$defs"]
    key = defs["microsoft.graph.trustFrameworkKey.read"]["properties"]
    assert key["nbf"] == {"type": ["integer", "null"], "format": "int64"}
    assert {n for n, p in key.items() if p.get("not") == {}} == {
        "k", "d", "p", "q", "dp", "dq", "qi",
    }  # fmt: skip
    upload = schema(graph, "uploadPkcs12")["$defs"]["request"]["properties"]
    assert upload["key"]["writeOnly"] is True and upload["password"]["writeOnly"] is True
    assert (
        "writeOnly"
        not in schema(graph, "uploadCertificate")["$defs"]["request"]["properties"]["key"]
    )
    assert schema(graph, "uploadSecret")["$defs"]["request"]["properties"]["k"]["writeOnly"]


def test_graph_update_key_v2_is_a_status_patch_without_permissions(graph: BuildResult) -> None:
    contract = schema(graph, "updateKeyV2")
    meta = contract["x-mockgraph"]
    assert (meta["status"], meta["requestBody"]) == (204, True)
    assert meta["permissions"] == {"delegatedWork": [], "delegatedPersonal": [], "application": []}
    assert contract["$defs"]["request"]["properties"]["status"]["enum"] == [
        "enabled",
        "disabled",
        "unknownFutureValue",
    ]
    assert fixture(graph, "update_trustframeworkkey_v2")["placeholders"] == [
        "trustFrameworkKeySetId"
    ]
