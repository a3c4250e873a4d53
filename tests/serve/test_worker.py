"""``serve.worker``: the app rebuilt from its description, served behind the bridge, and which
requests the event loop answers and which go to a thread."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from url_forms import url_forms

from mockgraph import Config, create_app
from mockgraph.http.contracts import Contracts
from mockgraph.resources.keysets import keys
from mockgraph.resources.keysets.operations import OPERATIONS
from mockgraph.serve.bridge import Bridge
from mockgraph.serve.worker import BODY_TIMEOUT, QUICK_BODY_BYTES, Build, load, quick_requests
from mockgraph.state import mockgraph

KEYSETS = "/beta/trustFramework/keySets"
#: The writes that only change the store: the ones the event loop may answer.
NEW_KEY = {"use": "sig", "kty": "RSA"}
QUICK_WRITES = {"createKeySet", "updateKeySet", "deleteKeySet", "uploadSecret", "updateKeyV2"}


def _mock(**config: Any) -> Build:
    return Build("mockgraph.serve.worker:mock", {"config": Config(**config).to_json()})


@pytest.fixture
def loaded() -> Iterator[Bridge]:
    """What granian's worker serves for ``mockgraph serve``, its heap given back to the
    garbage collector afterwards."""
    bridge = load(_mock().to_json())
    yield bridge
    gc.unfreeze()
    bridge.pool.shutdown(wait=False)  # type: ignore[attr-defined]


# -- the description -----------------------------------------------------------------------------


def test_a_build_survives_its_json_round_trip() -> None:
    build = Build("mockgraph.serve.worker:mock", {"config": Config().to_json()}, 3, 2048)
    assert Build(**json.loads(build.to_json())) == build


def test_a_build_makes_the_app_its_factory_makes_of_its_arguments() -> None:
    app = _mock(journal_size=7, journal_bytes=4096).app()
    assert (mockgraph(app).journal.size, mockgraph(app).journal.max_bytes) == (7, 4096)


def test_a_bad_factory_argument_fails_when_the_app_is_made(tmp_path: Path) -> None:
    from mockgraph.http.errors import StartupError

    (tmp_path / "state.json").write_text("{")
    with pytest.raises(StartupError, match="state.json"):
        _mock(state=tmp_path / "state.json").app()


def test_the_worker_serves_the_app_behind_the_bridge_with_the_builds_limits(
    loaded: Bridge,
) -> None:
    assert isinstance(loaded.app, Flask)
    assert loaded.max_body == Config().max_body_bytes
    assert loaded.body_timeout == BODY_TIMEOUT
    assert loaded.pool._max_workers == Build("x:y").threads  # type: ignore[attr-defined]
    assert loaded.inline is not None


def test_the_heap_built_before_serving_is_frozen_out_of_the_garbage_collector(
    loaded: Bridge,
) -> None:
    # The stored key sets live as long as the server: full collections must not walk them.
    assert gc.get_freeze_count() > 1000


# -- which requests the event loop answers -------------------------------------------------------


@pytest.fixture(scope="module")
def quick(contracts: Contracts) -> Any:
    rule = quick_requests(create_app(Config(), contracts=contracts))
    assert rule is not None
    return rule


def _environ(method: str, path: str, length: int | None = None) -> dict[str, Any]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    return environ


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", KEYSETS),
        ("GET", KEYSETS + "/B2C_1A_x"),
        ("GET", KEYSETS + "('B2C_1A_x')/getActiveKey"),
        ("HEAD", KEYSETS + "/B2C_1A_x"),
        ("POST", KEYSETS),
        ("PUT", KEYSETS + "/B2C_1A_x"),
        ("PATCH", KEYSETS + "('B2C_1A_x')"),
        ("DELETE", KEYSETS + "/B2C_1A_x"),
        ("POST", KEYSETS + "/B2C_1A_x/uploadSecret"),
        ("GET", "/beta/nothingHere"),  # a 404, quick to make
    ],
)
def test_reads_and_store_only_writes_are_answered_on_the_event_loop(
    method: str, path: str, quick: Any
) -> None:
    assert quick(_environ(method, path))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", KEYSETS + "/B2C_1A_x/generateKey"),
        ("POST", KEYSETS + "/B2C_1A_x/uploadPkcs12"),
        ("POST", KEYSETS + "/B2C_1A_x/uploadCertificate"),
        ("POST", "/beta/$batch"),
        ("GET", "/_mockgraph/health"),
        ("POST", "/_mockgraph/state"),
        ("GET", "/_mockgraph/nothingHere"),
    ],
)
def test_requests_that_may_wait_go_to_a_thread(method: str, path: str, quick: Any) -> None:
    assert not quick(_environ(method, path))


def test_a_write_with_a_large_body_goes_to_a_thread(quick: Any) -> None:
    assert quick(_environ("POST", KEYSETS, QUICK_BODY_BYTES))
    assert not quick(_environ("POST", KEYSETS, QUICK_BODY_BYTES + 1))
    assert quick(_environ("GET", KEYSETS, QUICK_BODY_BYTES + 1))  # a read's body is ignored


def test_with_a_state_file_writes_go_to_a_thread_and_reads_stay_on_the_loop(
    tmp_path: Path,
) -> None:
    app = _mock(state_file=tmp_path / "state.json").app()
    try:
        rule = quick_requests(app)
        assert rule is not None
        assert not rule(_environ("POST", KEYSETS, 10))
        assert not rule(_environ("DELETE", KEYSETS + "/B2C_1A_x"))
        assert rule(_environ("GET", KEYSETS + "/B2C_1A_x"))
    finally:
        mockgraph(app).close()


def test_while_recording_every_request_goes_to_a_thread(tmp_path: Path) -> None:
    assert quick_requests(_mock(record_dir=tmp_path).app()) is None


def test_an_app_that_is_not_the_mock_runs_on_threads_only() -> None:
    assert quick_requests(Flask("other")) is None


def test_every_write_route_of_the_app_is_routed_deliberately(quick: Any) -> None:
    # A new write operation must be looked at: it goes to a thread unless QUICK_WRITES names it.
    seen = set()
    for operation in OPERATIONS:
        for method in sorted(set(operation.methods) - {"GET", "HEAD", "OPTIONS"}):
            for form in url_forms(operation):
                path = form.format(id="x", kid="x")
                assert quick(_environ(method, path)) == (operation.id in QUICK_WRITES), path
                seen.add(operation.id)
    assert QUICK_WRITES <= seen
    assert {"generateKey", "uploadPkcs12", "uploadCertificate"} <= seen
    assert not quick(_environ("POST", "/beta/$batch"))


# -- served --------------------------------------------------------------------------------------


def _call(
    bridge: Bridge, method: str, path: str, body: Any = None
) -> asyncio.Task[tuple[int, Any]]:
    """The request as granian hands it to the worker's app; the task answers status and body."""
    data = json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer t")]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
    }
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": data, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def go() -> tuple[int, Any]:
        await bridge(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"] or b"null")

    return asyncio.create_task(go())


def test_a_generate_key_in_flight_does_not_stall_reads_or_quick_writes(
    loaded: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    generate = keys.generate_rsa

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(10)
        return generate(*args, **kwargs)

    monkeypatch.setattr(keys, "generate_rsa", held)

    async def scenario() -> None:
        assert (await _call(loaded, "POST", KEYSETS, {"id": "a"}))[0] == 201
        generating = _call(loaded, "POST", KEYSETS + "/B2C_1A_a/generateKey", NEW_KEY)
        assert await asyncio.to_thread(started.wait, 10)
        assert (await _call(loaded, "GET", KEYSETS + "/B2C_1A_a"))[0] == 200
        assert (await _call(loaded, "POST", KEYSETS, {"id": "b"}))[0] == 201
        assert not generating.done()
        release.set()
        status, key = await generating
        assert (status, key["kty"]) == (200, "RSA")

    asyncio.run(scenario())
