"""The ``mockgraph`` command through click's CliRunner: ``contracts build``, ``serve``'s options
(the server itself replaced by a stand-in that builds the app and prints the banner), ``ca``;
and the request log of a real ``mockgraph serve`` process."""

from __future__ import annotations

import json
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serve_process import ServeProcess

from mockgraph import cli
from mockgraph.cli import main
from mockgraph.config import Config
from mockgraph.features.tokens import make_token
from mockgraph.serve.production import Listen
from mockgraph.serve.worker import Build
from mockgraph.state import mockgraph

PAGES = Path(__file__).parent / "docpages" / "site"
KEYSETS = "/beta/trustFramework/keySets"


# -- contracts -----------------------------------------------------------------------------------


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


# -- serve ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What ``mockgraph serve`` asked the server for."""

    build: Build
    listen: Listen
    dev: bool

    @property
    def config(self) -> Config:
        return Config.from_json(self.build.kwargs["config"])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Served]:
    """``production.serve`` replaced in the CLI: the app is built (a start-up problem is raised
    there, as the real one raises it) and the banner announced, but nothing is served.
    ``MOCKGRAPH_HOME`` is the test's own."""
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path / "home"))
    calls: list[Served] = []

    def serve(build: Build, listen: Listen, *, dev: bool = False, announce: Any = None) -> int:
        mockgraph(build.app()).close()
        calls.append(Served(build, listen, dev))
        if announce is not None:
            announce(listen.root(8123), 8123)
        return 0

    monkeypatch.setattr(cli, "serve", serve)
    return calls


def _serve(*args: str) -> Any:
    return CliRunner().invoke(main, ["serve", "--port", "0", *args])


def test_serve_refuses_a_non_loopback_address_without_allow_remote(served: list[Served]) -> None:
    result = _serve("--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "refusing to bind 0.0.0.0" in result.output
    assert "--allow-remote" in result.output
    assert served == []


def test_serve_with_allow_remote_binds_it_and_warns_loudly(served: list[Served]) -> None:
    result = _serve("--host", "0.0.0.0", "--allow-remote")
    assert result.exit_code == 0, result.output
    assert "WARNING: mockgraph is reachable from other machines on 0.0.0.0" in result.output
    assert served[0].listen.host == "0.0.0.0"
    assert served[0].config.allow_remote


def test_serve_on_loopback_serves_http_on_granian_with_the_threads_asked_for(
    served: list[Served],
) -> None:
    result = _serve("--threads", "3")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    assert served[0].listen == Listen("127.0.0.1", 0)
    assert (served[0].dev, served[0].build.threads) == (False, 3)
    assert "mockgraph serving http://127.0.0.1:8123/beta with granian (3 threads)" in (
        result.output
    )
    assert "mockgraph token --roles" in result.output


def test_dev_serves_with_werkzeugs_development_server(served: list[Served]) -> None:
    result = _serve("--dev")
    assert result.exit_code == 0, result.output
    assert served[0].dev
    assert "with Werkzeug's development server; Ctrl+C to stop" in result.output


def test_serve_bounds_the_journal_by_the_count_and_bytes_it_is_given(
    served: list[Served],
) -> None:
    result = _serve("--journal-size", "7", "--journal-bytes", "4096")
    assert result.exit_code == 0, result.output
    journal = mockgraph(served[0].build.app()).journal
    assert (journal.size, journal.max_bytes) == (7, 4096)


def test_tls_serves_the_certificate_of_mockgraphs_ca_and_says_how_to_trust_it(
    served: list[Served], tmp_path: Path
) -> None:
    result = _serve("--tls")
    assert result.exit_code == 0, result.output
    home = tmp_path / "home"
    listen = served[0].listen
    assert (listen.cert, listen.key) == (home / "localhost.pem", home / "localhost-key.pem")
    assert listen.scheme == "https"
    assert served[0].config.tls
    assert "mockgraph serving https://127.0.0.1:8123/beta" in result.output
    assert f"NODE_EXTRA_CA_CERTS={home / 'ca.pem'}" in result.output


@pytest.mark.parametrize("given", ["--cert", "--key"])
def test_cert_and_key_go_together(given: str, served: list[Served], tmp_path: Path) -> None:
    (tmp_path / "file.pem").write_text("")
    result = _serve(given, str(tmp_path / "file.pem"))
    assert result.exit_code == 2
    assert "--cert and --key go together" in result.output
    assert served == []


def test_a_certificate_that_cannot_be_read_is_one_line(
    served: list[Served], tmp_path: Path
) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    result = _serve("--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem"))
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot read the certificate or key")
    assert len(result.output.splitlines()) == 1
    assert served == []


def test_a_malformed_app_is_one_line_naming_the_expected_form(served: list[Served]) -> None:
    result = _serve("--app", "client-without-secret")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: --app 'client-without-secret': expected CLIENT_ID:SECRET=ROLE[,ROLE...]"
    ]
    assert "Traceback" not in result.output


def test_apps_are_registered_with_the_authority(served: list[Served]) -> None:
    result = _serve("--app", "c1:s1=TrustFrameworkKeySet.Read.All", "--app", "c2:s2=")
    assert result.exit_code == 0, result.output
    assert served[0].config.apps == ("c1:s1=TrustFrameworkKeySet.Read.All", "c2:s2=")
    assert "2 registered app(s)" in result.output


@pytest.mark.parametrize(
    ("args", "log"), [((), "text"), (("--log-format", "json"), "json"), (("--quiet",), None)]
)
def test_the_request_log_is_text_json_or_none(
    args: tuple[str, ...], log: str | None, served: list[Served]
) -> None:
    result = _serve(*args)
    assert result.exit_code == 0, result.output
    assert served[0].config.log == log


def test_quiet_wins_over_a_log_format(served: list[Served]) -> None:
    assert _serve("--log-format", "json", "--quiet").exit_code == 0
    assert served[0].config.log is None


def test_allow_host_adds_host_names_to_answer(served: list[Served]) -> None:
    result = _serve("--allow-host", "mock.test", "--allow-host", "other.test")
    assert result.exit_code == 0, result.output
    assert served[0].config.allowed_hosts == ("mock.test", "other.test")


def test_verify_tokens_says_which_tokens_are_accepted_and_where_to_get_one(
    served: list[Served],
) -> None:
    result = _serve("--verify-tokens")
    assert result.exit_code == 0, result.output
    assert served[0].config.verify_tokens
    assert "tokens the sign-in authority signed" in result.output
    assert "POST http://127.0.0.1:8123/<tenant>/oauth2/v2.0/token" in result.output
    assert "mockgraph token" not in result.output
    assert "token signatures verified" in result.output


def test_no_auth_says_no_token_is_needed(served: list[Served]) -> None:
    result = _serve("--no-auth")
    assert result.exit_code == 0, result.output
    assert not served[0].config.require_auth
    assert "/beta/trustFramework/keySets  (no token needed)" in result.output


def test_a_startup_problem_is_one_line(
    monkeypatch: pytest.MonkeyPatch, served: list[Served]
) -> None:
    from mockgraph.http.errors import StartupError

    def refuse(build: Build, listen: Listen, **_: Any) -> int:
        raise StartupError(f"cannot bind 127.0.0.1:{listen.port}: Address already in use")

    monkeypatch.setattr(cli, "serve", refuse)
    result = CliRunner().invoke(main, ["serve", "--port", "8124"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: cannot bind 127.0.0.1:8124: Address already in use"
    ]


# -- ca ------------------------------------------------------------------------------------------


def test_ca_makes_the_ca_once_under_mockgraph_home_and_prints_its_path_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path))
    first = CliRunner().invoke(main, ["ca"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == str(tmp_path / "ca.pem")
    made = {path.name: path.read_bytes() for path in tmp_path.glob("*.pem")}
    assert {"ca.pem", "ca-key.pem"} <= set(made)
    if sys.platform != "win32":
        for key in tmp_path.glob("*key.pem"):
            assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name
    again = CliRunner().invoke(main, ["ca"])
    assert again.output == first.output
    assert {path.name: path.read_bytes() for path in tmp_path.glob("*.pem")} == made


def test_ca_says_how_each_client_trusts_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(tmp_path))
    lines = CliRunner().invoke(main, ["ca"]).output.splitlines()
    ca = tmp_path / "ca.pem"
    assert f"# Node: NODE_EXTRA_CA_CERTS={ca}" in lines
    assert f"# Python: SSL_CERT_FILE={ca} REQUESTS_CA_BUNDLE={ca}" in lines
    assert any(
        re.fullmatch(r"# Chromium: --ignore-certificate-errors-spki-list=\S{44}", line)
        for line in lines
    )


# -- the request log of a real server ------------------------------------------------------------

TOKEN = make_token(roles=["TrustFrameworkKeySet.ReadWrite.All"])
SECRET = "hunter2-never-logged"


def _exchanges(served: ServeProcess) -> list[str]:
    """Two exchanges: a list whose query holds a secret, and a 404; the request log lines
    written for them (after the banner)."""
    for path in (f"{KEYSETS}?$top=1&client_secret={SECRET}", f"{KEYSETS}/B2C_1A_missing"):
        served.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    served.stop()
    output = served.output()
    assert all(part not in output for part in TOKEN.split(".") if part)
    assert SECRET not in output
    banner = output.index("a token ")
    return output[banner:].splitlines()[1:]


@pytest.mark.slow
def test_the_text_request_log_has_a_line_per_exchange(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "serve.log") as served:
        lines = _exchanges(served)
    clock = r"\d\d:\d\d:\d\d\.\d{3}"
    assert re.fullmatch(
        clock + r" GET /beta/trustFramework/keySets\?\$top=1&client_secret=<redacted> "
        r"200 [0-9.]+ms listKeySets",
        lines[-2],
    ), lines
    assert re.fullmatch(
        clock + r" GET /beta/trustFramework/keySets/B2C_1A_missing 404 [0-9.]+ms getKeySet "
        r"itemNotFound: .+",
        lines[-1],
    ), lines


@pytest.mark.slow
def test_the_json_request_log_has_an_object_per_line(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "serve.log", "--log-format", "json") as served:
        lines = _exchanges(served)
    *_, listed, missing = (json.loads(line) for line in lines)
    assert listed["path"] == "/beta/trustFramework/keySets?$top=1&client_secret=<redacted>"
    assert (listed["method"], listed["status"], listed["operation"]) == (
        "GET",
        200,
        "listKeySets",
    )
    assert "error" not in listed
    assert isinstance(listed["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", listed["time"])
    assert (missing["status"], missing["error"]["code"]) == (404, "itemNotFound")
    assert missing["request_id"]


@pytest.mark.slow
def test_quiet_serves_without_a_request_log(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "serve.log", "--quiet") as served:
        assert _exchanges(served) == []
