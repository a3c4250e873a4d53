"""Twins of the README's "Recording and verifying" snippets: record a session with
``mockgraph serve --record``, record through ``mockgraph record`` (a local mock standing in for
Graph), then ``mockgraph contracts verify --replay`` and the Python ``verify`` call."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from mockgraph import Config, MockGraphServer, create_app
from mockgraph import cli as cli_module
from mockgraph.build.verify import verify
from mockgraph.cli import main
from mockgraph.serve.production import Listen
from mockgraph.serve.worker import Build


def curl(url: str, body: dict[str, Any]) -> int:
    """``curl -X POST URL -H 'Authorization: Bearer any-token' -H 'Content-Type: ...' -d BODY``"""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": "Bearer any-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        status: int = answer.status
        return status


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Flask]:
    """The app a ``mockgraph`` command would serve, kept instead of blocking on a socket."""
    apps: dict[str, Flask] = {}

    def keep(build: Build, listen: Listen, **options: Any) -> int:
        apps["app"] = build.app()
        return 0

    monkeypatch.setattr(cli_module, "serve", keep)
    return apps


@contextmanager
def live(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}/beta"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def record_a_session(base: str) -> None:
    assert curl(base + "/trustFramework/keySets", {"id": "signing"}) == 201
    generate = base + "/trustFramework/keySets/B2C_1A_signing/generateKey"
    assert curl(generate, {"use": "sig", "kty": "RSA"}) == 200


def test_serve_record_then_verify_replay(
    tmp_path: Path, captured: dict[str, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    # mockgraph serve --record recordings/
    served = runner.invoke(main, ["serve", "--record", "recordings/"])
    assert served.exit_code == 0, served.output
    with live(captured["app"]) as base:
        record_a_session(base)
    assert sorted(p.name for p in Path("recordings").iterdir()) == [
        "0001-createKeySet-201.json",
        "0002-generateKey-200.json",
    ]
    # mockgraph contracts verify recordings/ --replay
    verified = runner.invoke(main, ["contracts", "verify", "recordings/", "--replay"])
    assert verified.exit_code == 0, verified.output
    assert verified.output == "2 example file(s) checked and replayed: no differences, 0 note(s)\n"


def test_record_through_the_proxy_then_verify_replay(
    tmp_path: Path, captured: dict[str, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    # A local mock stands in for https://graph.microsoft.com: never the internet in tests.
    with MockGraphServer(app=create_app(Config())) as graph:
        # mockgraph record --upstream https://graph.microsoft.com --out recordings/graph/
        proxied = runner.invoke(
            main,
            [
                *("record", "--upstream", graph.url, "--out", "recordings/graph/"),
                *("--allow-upstream", "127.0.0.1"),  # the stand-in is not one of Graph's hosts
            ],
        )
        assert proxied.exit_code == 0, proxied.output
        with live(captured["app"]) as base:
            record_a_session(base)
        assert [k.id for k in graph.store] == ["B2C_1A_signing"]
    # mockgraph contracts verify recordings/graph/ --replay
    verified = runner.invoke(main, ["contracts", "verify", "recordings/graph/", "--replay"])
    assert verified.exit_code == 0, verified.output


def test_verify_from_python(tmp_path: Path) -> None:
    client = create_app(Config(record_dir=tmp_path / "recordings")).test_client()
    client.post(
        "/beta/trustFramework/keySets",
        json={"id": "signing"},
        headers={"Authorization": "Bearer any-token"},
    )
    # from mockgraph.build.verify import verify
    report = verify([tmp_path / "recordings"], replay=True)
    assert report.ok, report.format()
