"""The state file format: what loads, every way a file is refused (with a message naming the
file and the problem, never a secret), the dump round trip, the atomic write, and ``--state``
seeding at app creation."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mockgraph import Config, Key, KeySet, create_app
from mockgraph.cli import main
from mockgraph.features.redact import REDACTED
from mockgraph.features.statefile import (
    InvalidState,
    decode,
    dump_state,
    load_state,
    parse_state,
    state_document,
    write_state,
)
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.state import mockgraph

RSA = Key(kid="r1", kty="RSA", use="sig", n="bm4", e="AQAB", d="ZA", p="cA", q="cQ",
          dp="ZHA", dq="ZHE", qi="cWk", nbf=1, exp=2, x5c=("QUJD",), x5t="dA")  # fmt: skip
SECRET = Key(kid="s1", kty="oct", use="enc", k="c2VjcmV0LXZhbHVl", status="disabled")
RSA_SET = KeySet("B2C_1A_signing", (RSA, SECRET))


def write(tmp_path: Path, document: Any, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_state_file_loads_every_member_secrets_included(tmp_path: Path) -> None:
    path = write(tmp_path, {"keySets": [RSA_SET.to_state(), {"id": "B2C_1A_empty", "keys": []}]})
    assert load_state(path) == [RSA_SET, KeySet("B2C_1A_empty")]


def test_dump_then_load_gives_the_same_key_sets(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(dump_state([RSA_SET, KeySet("B2C_1A_b")]), encoding="utf-8")
    assert load_state(path) == [RSA_SET, KeySet("B2C_1A_b")]


def test_the_dump_is_indented_json_ending_in_a_newline() -> None:
    text = dump_state([KeySet("B2C_1A_x", (SECRET,))])
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
    assert parse_state({"keySets": [{"id": "signing"}]}) == [KeySet("B2C_1A_signing")]


def test_missing_keys_and_null_members_mean_none() -> None:
    document = {"keySets": [{"id": "B2C_1A_a", "keys": [{"kid": "x", "nbf": None}]}]}
    assert parse_state(document) == [KeySet("B2C_1A_a", (Key(kid="x"),))]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(StartupError, match=f"state file '{missing}' does not exist"):
        load_state(missing)


def test_a_folder_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidState, match="is a directory"):
        load_state(tmp_path)


def test_an_unreadable_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"keySets": []})

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    # chmod 0 cannot make a file unreadable for root, who runs CI containers.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InvalidState, match="cannot be read: Permission denied"):
        load_state(path)


def test_a_file_that_is_not_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"keySets": [\n  {"id": "a",}\n]}', encoding="utf-8")
    with pytest.raises(InvalidState) as caught:
        load_state(path)
    assert str(caught.value).startswith(f"state file '{path}' is not valid JSON: ")
    assert "(line 2, column 14)" in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"keySets": [{"id": "caf\xe9"}]}'.encode("latin-1"))
    with pytest.raises(InvalidState, match="is not valid UTF-8"):
        load_state(path)


def test_nan_is_not_json() -> None:
    with pytest.raises(InvalidState, match="x is not valid JSON: NaN is not a JSON number"):
        decode(b'{"keySets": NaN}', "x")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"keySets": [{"id": "B2C_1A_a"}]}).encode())
    assert load_state(path) == [KeySet("B2C_1A_a")]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], 'the state: must be a JSON object with a "keySets" list'),
        ({}, 'the state: "keySets" must be a list of key sets'),
        ({"keySets": {}}, 'the state: "keySets" must be a list of key sets'),
        ({"keySets": [], "version": 2}, "the state: unknown member 'version'"),
        ({"keySets": ["B2C_1A_a"]}, "the state: keySets[0]: must be an object"),
        ({"keySets": [{}]}, "keySets[0].id: is required and must be a string"),
        ({"keySets": [{"id": 7}]}, "keySets[0].id: is required and must be a string"),
        ({"keySets": [{"id": "a b"}]}, "keySets[0].id: 'a b' is not a valid key set id"),
        ({"keySets": [{"id": "a\n"}]}, "keySets[0].id: 'a\\n' is not a valid key set id"),
        ({"keySets": [{"id": "a", "name": "x"}]}, "keySets[0].name: unknown member of a key set"),
        ({"keySets": [{"id": "a", "keys": {}}]}, "keySets[0].keys: must be a list of keys"),
        ({"keySets": [{"id": "a", "keys": ["k"]}]}, "keySets[0].keys[0]: must be an object"),
        (
            {"keySets": [{"id": "a"}, {"id": "B2C_1A_A"}]},
            "keySets[1].id: duplicate id 'B2C_1A_A' (also keySets[0]; ids compare case-insens",
        ),
    ],
)
def test_a_document_of_the_wrong_shape_is_refused_with_the_path(
    document: Any, problem: str
) -> None:
    with pytest.raises(InvalidState) as caught:
        parse_state(document)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ({"kid": "x", "crv": "P-256"}, "keys[0].crv: unknown member of a key"),
        ({"nbf": "1700000000"}, "keys[0].nbf: must be an integer"),
        ({"exp": True}, "keys[0].exp: must be an integer"),
        ({"exp": 1.5}, "keys[0].exp: must be an integer"),
        ({"exp": 2**63}, "keys[0].exp: is out of range"),
        ({"x5c": "QUJD"}, "keys[0].x5c: must be a list of strings"),
        ({"x5c": [1]}, "keys[0].x5c: must be a list of strings"),
        ({"kty": 1}, "keys[0].kty: must be a string"),
        ({"status": "on"}, "keys[0].status: must be one of enabled, disabled"),
        ({"k": REDACTED}, "keys[0].k: is redacted"),
        ({"x5c": [REDACTED]}, "keys[0].x5c: is redacted"),
    ],
)
def test_a_bad_key_member_is_refused_with_the_path(key: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidState) as caught:
        parse_state({"keySets": [{"id": "a", "keys": [key]}]}, "state file 'f.json'")
    assert str(caught.value).startswith("state file 'f.json': keySets[0].")
    assert problem in str(caught.value)


def test_a_refusal_never_quotes_a_secret() -> None:
    with pytest.raises(InvalidState) as caught:
        parse_state({"keySets": [{"id": "a", "keys": [{"k": 12345678, "d": "hunter2"}]}]})
    assert "12345678" not in str(caught.value)
    with pytest.raises(InvalidState) as caught:
        parse_state({"keySets": [{"id": "a", "keys": [{"d": "hunter2", "status": "x"}]}]})
    assert "hunter2" not in str(caught.value)


def test_write_state_replaces_the_file_whole_and_only_its_owner_may_read_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    write_state(path, [RSA_SET])
    assert load_state(path) == [RSA_SET]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_state_puts_the_new_file_on_disk_before_it_replaces_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    seen: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # What the target holds when each fsync runs: the temp file's fsync comes before the
        # rename (the target still "old"), the folder's after it.
        seen.append(path.read_text(encoding="utf-8")[:3])
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_state(path, [RSA_SET])
    assert seen == (["old"] if os.name == "nt" else ["old", "{\n "])
    assert load_state(path) == [RSA_SET]


def test_write_state_into_a_missing_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_state(tmp_path / "missing" / "state.json", [RSA_SET])
    assert list(tmp_path.iterdir()) == []


def test_state_document_is_what_dump_state_writes() -> None:
    assert state_document([RSA_SET]) == json.loads(dump_state([RSA_SET]))


# -- --state at app creation --------------------------------------------------------------------


def test_config_state_seeds_the_store_at_creation(tmp_path: Path, contracts: Contracts) -> None:
    path = write(tmp_path, state_document([RSA_SET]))
    app = create_app(Config(state=path), contracts=contracts)
    assert list(mockgraph(app).stores["keySets"]) == [RSA_SET]


def test_a_bad_state_file_stops_app_creation(tmp_path: Path, contracts: Contracts) -> None:
    path = write(tmp_path, {"keySets": [{"id": "a", "keys": [{"nbf": "soon"}]}]})
    with pytest.raises(InvalidState, match=r"keySets\[0\].keys\[0\].nbf: must be an integer"):
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
