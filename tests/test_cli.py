"""The ``mockgraph`` command: ``contracts build`` through click's CliRunner, and a real
``mockgraph serve`` process on a free port answering a real HTTP request."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mockgraph import cli
from mockgraph.cli import main
from mockgraph.state import mockgraph

PAGES = Path(__file__).parent / "docpages" / "site"


def test_build_writes_contracts_then_check_passes(tmp_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(
        main, ["contracts", "build", "--docs", str(PAGES), "--out", str(tmp_path)]
    )
    assert built.exit_code == 0, built.output
    assert list((tmp_path / "schemas").glob("*.json"))
    checked = runner.invoke(
        main, ["contracts", "build", "--check", "--docs", str(PAGES), "--out", str(tmp_path)]
    )
    assert checked.exit_code == 0, checked.output
    assert "up to date" in checked.output


def test_check_fails_and_names_the_file_when_a_contract_was_edited(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["contracts", "build", "--docs", str(PAGES), "--out", str(tmp_path)])
    edited = sorted((tmp_path / "schemas").glob("*.json"))[0]
    edited.write_text(edited.read_text() + " ")
    result = runner.invoke(
        main, ["contracts", "build", "--check", "--docs", str(PAGES), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert f"schemas/{edited.name}" in result.output


def test_build_reports_page_defects_as_warnings_not_tracebacks(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text(
        '<!-- { "blockType": "request", "name": "broken" } -->\n'
        '```http\nPOST https://graph.microsoft.com/beta/trustFramework/keySets\n\n{"id": 1,}\n```\n'
    )
    result = CliRunner().invoke(
        main, ["contracts", "build", "--docs", str(page), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "warning: broken.md:" in result.output


def test_serve_refuses_a_non_loopback_address_without_allow_remote() -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def test_live_serve_on_a_free_port_answers_a_real_request() -> None:
    command = shutil.which("mockgraph")
    argv = [command] if command else [sys.executable, "-m", "mockgraph"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*argv, "serve", "--port", "0"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None
        url = None
        for _ in range(50):
            line = process.stderr.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/beta)", line)
            if match:
                url = match.group(1)
                break
        assert url, "the server never printed its URL"
        request = urllib.request.Request(
            url + "/trustFramework/keySets",
            data=json.dumps({"id": "live"}).encode(),
            headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.load(response)["id"] == "B2C_1A_live"
            assert response.headers["Location"] == "/trustFramework/keySets('B2C_1A_live')"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_build_refuses_docs_that_give_nothing(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    kept = tmp_path / "schemas" / "createKeySet.json"
    kept.write_text("{}")
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing here\n")
    result = CliRunner().invoke(
        main, ["contracts", "build", "--docs", str(empty), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert kept.read_text() == "{}"


def test_serve_bounds_the_journal_by_the_count_and_bytes_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[Any] = []

    def fake_run(app: Any, config: Any, **_: Any) -> int:
        served.append(mockgraph(app).journal)
        return 0

    monkeypatch.setattr(cli, "run", fake_run)
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--journal-size", "7", "--journal-bytes", "4096"]
    )
    assert result.exit_code == 0, result.output
    assert (served[0].size, served[0].max_bytes) == (7, 4096)
