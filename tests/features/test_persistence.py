"""Durable state (``--state-file``): loaded at start, kept current after every write before the
write is answered, written atomically so that killing the server at any moment leaves a whole
file with every acknowledged write in it."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from serve_process import ServeProcess
from werkzeug.serving import make_server

from mockgraph import Config, create_app
from mockgraph.cli import main
from mockgraph.features import atomic, persistence
from mockgraph.features.persistence import Persistence
from mockgraph.features.statefile import Encoder, document, dump_text, load_file
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.resources import RESOURCES
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.resources.store import Store
from mockgraph.state import MockGraph, mockgraph

TOKEN = "Bearer test-token"
BASE = "/beta/trustFramework/keySets"
SECRET = Key(kid="s", kty="oct", use="sig", k="c2VjcmV0LWtleS1tYXRlcmlhbA")


def on_disk(path: Path) -> list[dict[str, Any]]:
    return [keyset.to_state() for keyset in load_file(path, RESOURCES).get("keySets", [])]


def text_of(*keysets: KeySet) -> str:
    return dump_text(document({"keySets": keysets}, RESOURCES))


def store_of(app: Flask) -> Store[KeySet]:
    store: Store[KeySet] = mockgraph(app).stores["keySets"]
    return store


def dump(app: Flask) -> list[dict[str, Any]]:
    return [keyset.to_state() for keyset in store_of(app)]


def persistence_of(app: Flask) -> Persistence:
    found = mockgraph(app).persistence
    assert found is not None
    return found


Start = Callable[..., tuple[Flask, FlaskClient]]


@pytest.fixture
def start(contracts: Contracts) -> Iterator[Start]:
    """Start an app on a state file; every app started is closed (its lock given back) after
    the test."""
    started: list[MockGraph] = []

    def starter(path: Path, **config: Any) -> tuple[Flask, FlaskClient]:
        app = create_app(Config(state_file=path, **config), contracts=contracts)
        started.append(mockgraph(app))
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN
        return app, client

    yield starter
    for mock in started:
        mock.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


def test_without_a_state_file_nothing_is_persisted(app: Flask, tmp_path: Path) -> None:
    assert mockgraph(app).persistence is None
    assert list(tmp_path.iterdir()) == []


def test_a_missing_state_file_is_created_at_start(path: Path, start: Start) -> None:
    start(path)
    assert on_disk(path) == []
    assert json.loads(path.read_text(encoding="utf-8")) == {"keySets": []}


def test_an_empty_state_file_is_accepted_as_no_key_sets(path: Path, start: Start) -> None:
    path.write_text("", encoding="utf-8")
    app, client = start(path)
    assert list(store_of(app)) == []
    assert client.post(BASE, json={"id": "One"}).status_code == 201
    assert [k["id"] for k in on_disk(path)] == ["B2C_1A_One"]


def test_key_sets_of_an_existing_state_file_are_loaded_at_start_secrets_included(
    path: Path, start: Start
) -> None:
    path.write_text(text_of(KeySet("B2C_1A_Kept", (SECRET,))), encoding="utf-8")
    app, client = start(path)
    answer = client.get(BASE + "/B2C_1A_Kept")
    assert answer.status_code == 200
    assert answer.get_json()["keys"] == [{"kid": "s", "kty": "oct", "use": "sig"}]
    assert store_of(app).get("B2C_1A_Kept").keys[0].k == SECRET.k


def test_every_kind_of_write_is_on_disk_when_it_is_answered(path: Path, start: Start) -> None:
    app, client = start(path)
    item = BASE + "/B2C_1A_One"
    writes = [
        ("POST", BASE, {"id": "One"}, 201),
        ("POST", BASE, {"id": "Two", "keys": [SECRET.to_state()]}, 201),
        ("POST", item + "/uploadSecret", {"use": "sig", "k": "c2hhcmVk"}, 200),
        ("POST", item + "/generateKey", {"use": "enc", "kty": "oct"}, 200),
        ("PATCH", item, {"keys": [SECRET.to_state()]}, 200),
        ("PATCH", item + "/keys_v2/s", {"status": "disabled"}, 204),
        ("PUT", item, {"keys": []}, 200),
        ("DELETE", BASE + "('B2C_1A_Two')", None, 204),
    ]
    for method, url, body, status in writes:
        answer = client.open(url, method=method, json=body)
        assert answer.status_code == status, answer.get_data()
        assert on_disk(path) == dump(app), (method, url)
    assert [k["id"] for k in on_disk(path)] == ["B2C_1A_One"]


def test_the_file_holds_the_state_file_format_one_key_set_per_line(
    path: Path, start: Start
) -> None:
    app, client = start(path)
    client.post(BASE, json={"id": "A", "keys": [SECRET.to_state()]})
    client.post(BASE, json={"id": "B"})
    client.post(BASE + "/B2C_1A_A/uploadSecret", json={"use": "enc", "k": "bmV3"})
    assert json.loads(path.read_text(encoding="utf-8")) == mockgraph(app).state_document()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line.rstrip(","))["id"] for line in lines[2:-1]] == [
        "B2C_1A_A",
        "B2C_1A_B",
    ]


def test_the_encoder_follows_replaced_and_deleted_key_sets() -> None:
    encoder = Encoder(RESOURCES)

    def encoded(*keysets: KeySet) -> Any:
        return json.loads("".join(encoder.pieces({"keySets": keysets})))

    a, b = KeySet("B2C_1A_A"), KeySet("B2C_1A_B", (SECRET,))
    assert encoded(a, b) == json.loads(text_of(a, b))
    a2 = KeySet("B2C_1A_A", (SECRET,))
    assert encoded(a2, b) == json.loads(text_of(a2, b))
    assert encoded(b) == json.loads(text_of(b))
    assert encoded() == json.loads(text_of())


def test_reads_and_refused_writes_do_not_rewrite_the_file(path: Path, start: Start) -> None:
    app, client = start(path)
    assert client.post(BASE, json={"id": "One"}).status_code == 201
    written = persistence_of(app).writes
    assert client.post(BASE, json={"id": "One"}).status_code == 409
    assert client.post(BASE, json={"id": "Bad", "nope": 1}).status_code == 400
    assert client.delete(BASE + "/B2C_1A_Missing").status_code == 404
    assert client.get(BASE).status_code == 200
    assert client.get(BASE + "/B2C_1A_One").status_code == 200
    assert persistence_of(app).writes == written


def test_a_restarted_app_has_the_state_of_the_last_one(path: Path, start: Start) -> None:
    first, client = start(path)
    client.post(BASE, json={"id": "A", "keys": [SECRET.to_state()]})
    client.post(BASE + "/B2C_1A_A/generateKey", json={"use": "sig", "kty": "RSA"})
    client.post(BASE, json={"id": "B"})
    mockgraph(first).close()
    second, _ = start(path)
    assert dump(second) == dump(first)
    assert store_of(second).get("B2C_1A_A").keys[1].d is not None


def test_a_second_app_on_an_open_state_file_is_refused_naming_it(path: Path, start: Start) -> None:
    first, _ = start(path)
    with pytest.raises(StartupError, match=f"the state file {re.escape(str(path))} is in use"):
        start(path)
    mockgraph(first).close()
    start(path)  # the lock was given back


def test_writes_outside_a_request_are_persisted_at_once(path: Path, start: Start) -> None:
    app, _ = start(path)
    store_of(app).create(KeySet("B2C_1A_Seeded"))
    assert [k["id"] for k in on_disk(path)] == ["B2C_1A_Seeded"]
    mockgraph(app).reset()
    assert on_disk(path) == []


def test_a_bad_state_file_stops_the_start_naming_the_file_and_gives_the_lock_back(
    path: Path, start: Start
) -> None:
    path.write_text('{"keySets": [', encoding="utf-8")
    with pytest.raises(StartupError, match=re.escape(path.name)) as caught:
        start(path)
    assert path.read_text(encoding="utf-8") == '{"keySets": ['  # left for the user to fix
    path.write_text('{"keySets": []}', encoding="utf-8")
    start(path)
    assert caught.value is not None


def test_a_state_file_with_a_lone_surrogate_is_a_one_line_startup_error(
    path: Path, start: Start
) -> None:
    path.write_text('{"keySets": [{"id": "a\\udc00"}]}', encoding="utf-8")
    with pytest.raises(StartupError) as caught:
        start(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"state file '{path}' holds a lone surrogate escape in the property 'keySets[0].id', "
        "which is not valid Unicode"
    )


def test_serve_reports_a_lone_surrogate_in_the_state_file_in_one_line(path: Path) -> None:
    path.write_text('{"keySets": [{"id": "a\\udc00"}]}', encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state-file", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: state file '{path}' holds a lone surrogate escape in the property "
        "'keySets[0].id', which is not valid Unicode"
    ]


def test_a_state_file_in_a_missing_folder_stops_the_start(tmp_path: Path, start: Start) -> None:
    path = tmp_path / "no" / "such" / "state.json"
    with pytest.raises(StartupError, match=f"cannot write the state file {re.escape(str(path))}"):
        start(path)


def test_serve_reports_a_bad_state_file_without_a_traceback(path: Path) -> None:
    path.write_text("not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--state-file", str(path)])
    assert result.exit_code == 1
    assert path.name in result.output
    assert "Traceback" not in result.output


def disk_full(path: Path, text: Any) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", BASE, {"id": "Lost"}),
        ("POST", BASE + "/B2C_1A_Kept/uploadSecret", {"use": "sig", "k": "bG9zdA"}),
        ("PATCH", BASE + "/B2C_1A_Kept", {"keys": []}),
        ("DELETE", BASE + "/B2C_1A_Kept", None),
    ],
)
def test_a_write_that_cannot_be_persisted_is_a_500_and_changes_nothing(
    path: Path,
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    url: str,
    body: Any,
) -> None:
    app, client = start(path)
    keys = [SECRET.to_state()]
    assert client.post(BASE, json={"id": "Kept", "keys": keys}).status_code == 201
    before, in_memory = path.read_bytes(), dump(app)

    monkeypatch.setattr(persistence, "write_atomically", disk_full)
    answer = client.open(url, method=method, json=body, headers={"client-request-id": "abc"})
    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert error["code"] == "generalException"
    assert error["message"] == (
        "The change could not be written to the state file; nothing changed."
    )
    assert answer.headers["client-request-id"] == "abc"
    assert path.read_bytes() == before
    assert dump(app) == in_memory


def test_a_write_whose_file_was_replaced_but_not_made_durable_is_undone_on_disk(
    path: Path, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = start(path)
    assert client.post(BASE, json={"id": "Kept"}).status_code == 201
    real = atomic._fsync_directory
    failures = [OSError(5, "Input/output error")]

    def fail_once(folder: Path) -> None:
        if failures:
            raise failures.pop()
        real(folder)

    monkeypatch.setattr(atomic, "_fsync_directory", fail_once)
    assert client.post(BASE, json={"id": "Lost"}).status_code == 500
    assert [k["id"] for k in dump(app)] == ["B2C_1A_Kept"]
    assert on_disk(path) == dump(app)


def test_temp_files_left_by_a_crash_are_removed_at_start(path: Path, start: Start) -> None:
    leftover = path.parent / f".{path.name}.abc123.tmp"
    leftover.write_text('{"keySets": [', encoding="utf-8")
    unrelated = path.parent / "notes.tmp"
    unrelated.write_text("mine", encoding="utf-8")
    start(path)
    assert not leftover.exists()
    assert unrelated.exists()


def test_concurrent_writes_are_each_on_disk_when_answered(path: Path, start: Start) -> None:
    app, _ = start(path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    problems: list[str] = []

    def writer(n: int) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = TOKEN
            for i in range(15):
                keyset_id = f"B2C_1A_w{n}_{i}"
                answer = http.post(f"http://127.0.0.1:{server.port}{BASE}", json={"id": keyset_id})
                if answer.status_code != 201:
                    problems.append(f"{keyset_id}: {answer.status_code}")
                elif keyset_id not in {k["id"] for k in on_disk(path)}:
                    problems.append(f"{keyset_id} answered before it was on disk")

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    try:
        for w in writers:
            w.start()
        for w in writers:
            w.join(60)
    finally:
        server.shutdown()
        server.server_close()
    assert problems == []
    assert len(on_disk(path)) == 90
    assert persistence_of(app).writes <= 91


# -- kill -9 ---------------------------------------------------------------------------------
class Writer(threading.Thread):
    """Creates and deletes its own key sets until the server dies; remembers what was
    acknowledged, and the one write in flight when it died (which may or may not be kept)."""

    def __init__(self, base: str, name: str, expected: dict[str, bool]) -> None:
        super().__init__(daemon=True)
        self.url = base
        self.prefix = name
        self.expected = expected  # id -> present? for acknowledged writes
        self.uncertain: set[str] = set()
        self.problems: list[str] = []
        self.acknowledged = 0

    def run(self) -> None:
        mine: list[str] = []
        with requests.Session() as http:
            http.headers["Authorization"] = TOKEN
            for i in range(10_000):
                if i % 3 == 2 and mine:
                    keyset_id = mine.pop(0)
                    method, url, body = "DELETE", f"{self.url}/{keyset_id}", None
                else:
                    keyset_id = f"B2C_1A_{self.prefix}_{i}"
                    method, url, body = "POST", self.url, {"id": keyset_id}
                try:
                    answer = http.request(method, url, json=body, timeout=30)
                except requests.RequestException:  # the kill cut it off, at any stage
                    self.uncertain.add(keyset_id)
                    return
                if answer.status_code not in (201, 204):
                    self.problems.append(f"{method} {keyset_id}: {answer.status_code}")
                    return
                self.expected[keyset_id] = method == "POST"
                self.acknowledged += 1
                if method == "POST":
                    mine.append(keyset_id)


class FileReader(threading.Thread):
    """Parses the state file over and over while the server writes it."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.reads = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                load_file(self.path, RESOURCES)
                self.reads += 1
            except StartupError as exc:
                self.failures.append(str(exc))


@pytest.mark.slow
def test_every_acknowledged_write_survives_sigkill_at_any_moment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    expected: dict[str, bool] = {}
    uncertain: set[str] = set()
    shuffle = random.Random(6)
    acknowledged = 0
    reads = 0
    for round_ in range(10):
        server = ServeProcess(tmp_path / f"serve-{round_}.log", "--state-file", str(path))
        kept = {k["id"] for k in on_disk(path)}
        lost = [k for k, present in expected.items() if present and k not in kept]
        ghosts = [k for k, present in expected.items() if not present and k in kept]
        assert (lost, ghosts) == ([], []), f"after kill {round_}"
        uncertain.clear()

        reader = FileReader(path)
        writers = [Writer(server.root + BASE, f"r{round_}w{n}", expected) for n in range(3)]
        reader.start()
        for writer in writers:
            writer.start()
        time.sleep(shuffle.uniform(0.1, 0.3))
        server.kill()
        for writer in writers:
            writer.join(30)
            uncertain |= writer.uncertain
            assert writer.problems == []
            acknowledged += writer.acknowledged
        reader.stop.set()
        reader.join(30)
        assert reader.failures == []
        reads += reader.reads
        for keyset_id in uncertain:
            expected.pop(keyset_id, None)  # in flight when killed: either outcome is right

    final = {k["id"] for k in on_disk(path)}
    assert {k for k, present in expected.items() if present} <= final
    assert not {k for k, present in expected.items() if not present} & final
    # The loop only proves something if writes were acknowledged and the file read meanwhile.
    assert acknowledged >= 30 and reads >= 10, (acknowledged, reads)
