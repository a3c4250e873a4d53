"""The state file format: what loads, every way a file is refused (with a message naming the
file and the problem, never a secret), the dump round trip, and ``--state`` seeding at app
creation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mockgraph import Config, Key, KeySet, create_app
from mockgraph.cli import main
from mockgraph.features.redact import REDACTED
from mockgraph.features.statefile import (
    InvalidState,
    Items,
    document,
    dump_text,
    load_file,
    parse_document,
)
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.resources import RESOURCES
from mockgraph.state import mockgraph

RSA = Key(kid="r1", kty="RSA", use="sig", n="bm4", e="AQAB", d="ZA", p="cA", q="cQ",
          dp="ZHA", dq="ZHE", qi="cWk", nbf=1, exp=2, x5c=("QUJD",), x5t="dA")  # fmt: skip
SECRET = Key(kid="s1", kty="oct", use="enc", k="c2VjcmV0LXZhbHVl", status="disabled")
RSA_SET = KeySet("B2C_1A_signing", (RSA, SECRET))


def write(tmp_path: Path, content: Any, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def load(path: Path) -> Items:
    return load_file(path, RESOURCES)


def parse(content: Any, where: str = "the state") -> Items:
    return parse_document(content, RESOURCES, where)


def text_of(*keysets: KeySet) -> str:
    return dump_text(document({"keySets": keysets}, RESOURCES))


def test_a_state_file_loads_every_member_secrets_included(tmp_path: Path) -> None:
    path = write(tmp_path, {"keySets": [RSA_SET.to_state(), {"id": "B2C_1A_empty", "keys": []}]})
    assert load(path) == {"keySets": [RSA_SET, KeySet("B2C_1A_empty")]}


def test_dump_then_load_gives_the_same_key_sets(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(text_of(RSA_SET, KeySet("B2C_1A_b")), encoding="utf-8")
    assert load(path) == {"keySets": [RSA_SET, KeySet("B2C_1A_b")]}


def test_the_dump_is_indented_json_ending_in_a_newline() -> None:
    text = text_of(KeySet("B2C_1A_x", (SECRET,)))
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "keySets": [
            {
                "id": "B2C_1A_x",
                "keys": [{"kid": "s1", "kty": "oct", "use": "enc",
                          "k": "c2VjcmV0LXZhbHVl", "status": "disabled"}],
            }
        ]
    }  # fmt: skip
    assert '\n  "keySets": [' in text


def test_an_id_without_the_b2c_prefix_gets_it_as_create_does() -> None:
    assert parse({"keySets": [{"id": "signing"}]}) == {"keySets": [KeySet("B2C_1A_signing")]}


def test_missing_keys_and_null_members_mean_none() -> None:
    content = {"keySets": [{"id": "B2C_1A_a", "keys": [{"kid": "x", "nbf": None}]}]}
    assert parse(content) == {"keySets": [KeySet("B2C_1A_a", (Key(kid="x"),))]}


def test_an_empty_file_or_document_holds_no_items(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    blank = tmp_path / "blank.json"
    blank.write_text(" \n", encoding="utf-8")
    assert load(empty) == {} and load(blank) == {}
    assert parse({}) == {}


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(StartupError, match=f"state file '{missing}' does not exist"):
        load(missing)


def test_a_folder_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidState, match="is a directory"):
        load(tmp_path)


def test_an_unreadable_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"keySets": []})

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    # chmod 0 cannot make a file unreadable for root, who runs CI containers.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InvalidState, match="cannot be read: Permission denied"):
        load(path)


def test_a_file_that_is_not_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"keySets": [\n  {"id": "a",}\n]}', encoding="utf-8")
    with pytest.raises(InvalidState) as caught:
        load(path)
    assert str(caught.value).startswith(f"state file '{path}' is not valid JSON: ")
    assert "trailing comma is not allowed (line 2, column 13)" in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"keySets": [{"id": "caf\xe9"}]}'.encode("latin-1"))
    with pytest.raises(InvalidState, match="is not valid UTF-8"):
        load(path)


def test_nan_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"keySets": [{"id": "a", "keys": [{"exp": NaN}]}]}', encoding="utf-8")
    with pytest.raises(InvalidState, match=f"state file '{path}' is not valid JSON"):
        load(path)


def test_a_lone_surrogate_escape_is_one_line_naming_the_file_and_the_property(
    tmp_path: Path,
) -> None:
    path = tmp_path / "surrogate.json"
    path.write_text('{"keySets": [{"id": "a\\ud800"}]}', encoding="utf-8")
    with pytest.raises(InvalidState) as caught:
        load(path)
    assert str(caught.value) == (
        f"state file '{path}' holds a lone surrogate escape in the property "
        "'keySets[0].id', which is not valid Unicode"
    )


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"keySets": [{"id": "B2C_1A_a"}]}).encode())
    assert load(path) == {"keySets": [KeySet("B2C_1A_a")]}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([], "the state: must be a JSON object with a 'keySets' list"),
        ({"keySets": {}}, "the state: keySets: must be a list of key sets"),
        ({"keySets": [], "version": 2}, "the state: unknown member 'version' (allowed: keySets)"),
        ({"keySets": ["B2C_1A_a"]}, "the state: keySets[0]: must be an object with an id and keys"),
        ({"keySets": [{}]}, "keySets[0].id: missing data for required field"),
        ({"keySets": [{"id": 7}]}, "keySets[0].id: not a valid string"),
        ({"keySets": [{"id": "a b"}]}, "keySets[0].id: is not a valid key set id"),
        ({"keySets": [{"id": "a\n"}]}, "keySets[0].id: is not a valid key set id"),
        ({"keySets": [{"id": "a", "name": "x"}]}, "keySets[0].name: is not a member of a key set"),
        ({"keySets": [{"id": "a", "keys": {}}]}, "keySets[0].keys: not a valid list"),
        ({"keySets": [{"id": "a", "keys": ["k"]}]}, "keySets[0].keys[0]: invalid input type"),
        (
            {"keySets": [{"id": "a"}, {"id": "B2C_1A_A"}]},
            "keySets[1].id: duplicate id 'B2C_1A_A' (also keySets[0]; ids compare case-insens",
        ),
    ],
)
def test_a_document_of_the_wrong_shape_is_refused_with_the_path(content: Any, problem: str) -> None:
    with pytest.raises(InvalidState) as caught:
        parse(content)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ([{"kid": "x", "crv": "P-256"}], "keys[0].crv: is not a member of a key set or key"),
        ([{"nbf": "1700000000"}], "keys[0].nbf: not a valid integer"),
        ([{"exp": True}], "keys[0].exp: not a valid integer"),
        ([{"exp": 1.5}], "keys[0].exp: not a valid integer"),
        ([{"exp": 2**63}], "keys[0].exp: out of range"),
        ([{"x5c": "QUJD"}], "keys[0].x5c: not a valid list"),
        ([{"x5c": [1]}], "keys[0].x5c[0]: not a valid string"),
        ([{"kty": 1}], "keys[0].kty: not a valid string"),
        ([{"kty": "EC"}], "keys[0].kty: must be one of: RSA, oct"),
        ([{"status": "on"}], "keys[0].status: must be one of: enabled, disabled"),
        ([{"nbf": 5, "exp": 4}], "keys[0].nbf: must not be later than 'exp'"),
        ([{"kid": "a"}, {"kid": "a"}], "keys[1].kid: is already the kid of another key"),
        ([{"k": REDACTED}], "keys[0].k: is redacted"),
        ([{"d": REDACTED}], "keys[0].d: is redacted"),
    ],
)
def test_a_bad_key_member_is_refused_with_the_path(
    keys: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(InvalidState) as caught:
        parse({"keySets": [{"id": "a", "keys": keys}]}, "state file 'f.json'")
    assert str(caught.value).startswith("state file 'f.json': keySets[0].")
    assert problem in str(caught.value)


def test_a_refusal_never_quotes_a_secret() -> None:
    with pytest.raises(InvalidState) as caught:
        parse({"keySets": [{"id": "a", "keys": [{"k": 12345678, "d": "hunter2"}]}]})
    assert "12345678" not in str(caught.value)
    with pytest.raises(InvalidState) as caught:
        parse({"keySets": [{"id": "a", "keys": [{"d": "hunter2", "status": "x"}]}]})
    assert "hunter2" not in str(caught.value)


def test_the_apps_state_document_is_the_document_of_its_stores(
    tmp_path: Path, contracts: Contracts
) -> None:
    path = tmp_path / "state.json"
    path.write_text(text_of(RSA_SET), encoding="utf-8")
    app = create_app(Config(state=path), contracts=contracts)
    assert mockgraph(app).state_document() == json.loads(text_of(RSA_SET))


# -- --state at app creation --------------------------------------------------------------------


def test_config_state_seeds_the_store_at_creation(tmp_path: Path, contracts: Contracts) -> None:
    path = write(tmp_path, document({"keySets": [RSA_SET]}, RESOURCES))
    app = create_app(Config(state=path), contracts=contracts)
    assert list(mockgraph(app).stores["keySets"]) == [RSA_SET]


def test_an_empty_state_file_seeds_nothing(tmp_path: Path, contracts: Contracts) -> None:
    path = tmp_path / "empty.json"
    path.write_text("", encoding="utf-8")
    app = create_app(Config(state=path), contracts=contracts)
    assert list(mockgraph(app).stores["keySets"]) == []


def test_a_bad_state_file_stops_app_creation(tmp_path: Path, contracts: Contracts) -> None:
    path = write(tmp_path, {"keySets": [{"id": "a", "keys": [{"nbf": "soon"}]}]})
    with pytest.raises(
        InvalidState, match=rf"^state file '{path}': keySets\[0\].keys\[0\].nbf: not a valid"
    ):
        create_app(Config(state=path), contracts=contracts)


@pytest.fixture
def compiled(contracts: Contracts, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds its app with ``Contracts.load()``: reuse the session's compiled ones."""
    monkeypatch.setattr(Contracts, "load", classmethod(lambda cls, directory=None: contracts))


@pytest.mark.usefixtures("compiled")
def test_serve_with_a_bad_state_file_prints_the_problem_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, {"keySets": [{"id": "a"}, {"id": "A"}]})
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state", str(path)])
    assert result.exit_code == 1
    assert f"Error: state file '{path}': keySets[1].id: duplicate id" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("compiled")
def test_serve_with_a_missing_state_file_names_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "does not exist" in result.output
