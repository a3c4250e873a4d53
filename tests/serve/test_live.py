"""MockGraphServer: a live server in a thread, port 0 read back, reset/seed/journal, swapping
the app, errors of the server thread raised in the caller, a non-loopback host only by
choice, and HTTPS with a session and a credential for it (its connections:
test_threaded.py)."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from flask import Flask

import mockgraph
from mockgraph import Config, Key, KeySet, MockGraphServer, create_app
from mockgraph.features.statefile import InvalidState
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError

AUTH = {"Authorization": "Bearer secret-token-value"}
KEYSETS = "/trustFramework/keySets"


@pytest.fixture(scope="module")
def shared_app(contracts: Contracts) -> Flask:
    """One app for the module (building one costs tens of ms); each test resets it."""
    return create_app(Config(), contracts=contracts)


@pytest.fixture
def server(shared_app: Flask) -> Iterator[MockGraphServer]:
    with MockGraphServer(app=shared_app) as live:
        live.reset()
        yield live


def create(server: MockGraphServer, keyset_id: str) -> requests.Response:
    return requests.post(server.url + KEYSETS, json={"id": keyset_id}, headers=AUTH, timeout=10)


def test_it_is_exported_from_the_package() -> None:
    assert "MockGraphServer" in mockgraph.__all__


def test_port_0_binds_a_free_loopback_port_and_url_is_the_beta_base(
    server: MockGraphServer,
) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/beta"
    assert server.root_url == f"http://127.0.0.1:{server.port}"
    assert server.running


def test_it_answers_real_requests_from_its_own_store(server: MockGraphServer) -> None:
    response = create(server, "signing")
    assert response.status_code == 201
    assert response.json()["id"] == "B2C_1A_signing"
    assert [k.id for k in server.store] == ["B2C_1A_signing"]
    listed = requests.get(server.url + KEYSETS, headers=AUTH, timeout=10).json()
    assert listed["@odata.context"] == server.url + "/$metadata#trustFramework/keySets"


def test_requests_is_the_journal_with_the_token_redacted(server: MockGraphServer) -> None:
    create(server, "signing")
    requests.get(server.url + KEYSETS + "/B2C_1A_missing", headers=AUTH, timeout=10)
    first, second = server.requests
    assert (first.method, first.path, first.status, first.operation) == (
        "POST",
        "/beta/trustFramework/keySets",
        201,
        "createKeySet",
    )
    assert first.body == {"id": "signing"}
    assert first.headers["Authorization"] == "Bearer <redacted>"
    assert "secret-token-value" not in repr(server.requests)
    assert (second.status, second.operation) == (404, "getKeySet")


def test_reset_empties_the_store_and_journal_and_frees_the_clock(
    server: MockGraphServer,
) -> None:
    create(server, "signing")
    server.state.clock.set(1_000.0)
    server.reset()
    assert list(server.store) == []
    assert server.requests == []
    assert server.state.clock.now() != 1_000.0
    assert create(server, "signing").status_code == 201  # the same id again: no conflict


def test_reset_returns_the_clock_to_the_configured_one(contracts: Contracts) -> None:
    with MockGraphServer(app=create_app(Config(clock=42.0), contracts=contracts)) as live:
        live.state.clock.set(7.0)
        live.reset()
        assert live.state.clock.now() == 42.0


def test_seed_from_objects_a_document_or_a_file_adds_key_sets(
    server: MockGraphServer, tmp_path: Path
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"keySets": [{"id": "B2C_1A_file"}]}), encoding="utf-8")
    server.seed([KeySet("B2C_1A_object")])
    server.seed({"keySets": [{"id": "document"}]})
    assert server.seed(path) == [KeySet("B2C_1A_file")]
    assert [k.id for k in server.store] == ["B2C_1A_document", "B2C_1A_file", "B2C_1A_object"]
    got = requests.get(server.url + KEYSETS + "/B2C_1A_file", headers=AUTH, timeout=10)
    assert got.status_code == 200


def test_seed_replaces_a_key_set_with_the_same_id(server: MockGraphServer) -> None:
    server.seed([KeySet("B2C_1A_a"), KeySet("B2C_1A_b")])
    server.seed([KeySet("b2c_1a_A", (Key(kid="new"),))])
    assert list(server.store) == [KeySet("b2c_1a_A", (Key(kid="new"),)), KeySet("B2C_1A_b")]


def test_a_bad_seed_adds_nothing(server: MockGraphServer, tmp_path: Path) -> None:
    server.seed([KeySet("B2C_1A_kept")])
    with pytest.raises(
        InvalidState, match=r"the seed document: keySets\[1\].keys: not a valid list"
    ):
        server.seed({"keySets": [{"id": "ok"}, {"id": "bad", "keys": 3}]})
    with pytest.raises(InvalidState, match="does not exist"):
        server.seed(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="seed with KeySet objects, not dict"):
        server.seed([{"id": "x"}])  # type: ignore[list-item]
    assert list(server.store) == [KeySet("B2C_1A_kept")]


def test_two_servers_run_side_by_side_with_their_own_stores(
    server: MockGraphServer, contracts: Contracts
) -> None:
    with MockGraphServer(app=create_app(Config(), contracts=contracts)) as other:
        assert other.port != server.port
        create(server, "same")
        assert create(other, "same").status_code == 201
        assert len(server.store) == len(other.store) == 1
        assert len(server.requests) == len(other.requests) == 1


def test_leaving_the_with_block_stops_and_frees_the_port(shared_app: Flask) -> None:
    with MockGraphServer(app=shared_app) as live:
        port = live.port
        thread_names = {t.name for t in threading.enumerate()}
        assert f"mockgraph-server-{port}" in thread_names
    assert not live.running
    assert f"mockgraph-server-{port}" not in {t.name for t in threading.enumerate()}
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    live.stop()  # a second stop does nothing


def test_a_server_can_be_started_again_after_a_stop(shared_app: Flask) -> None:
    live = MockGraphServer(app=shared_app)
    live.start().stop()
    live.start()
    try:
        assert create(live, "again").status_code == 201
    finally:
        live.stop()


def test_an_address_in_use_raises_from_start(server: MockGraphServer) -> None:
    other = MockGraphServer(app=server.app, port=server.port)
    with pytest.raises(StartupError, match=f"cannot bind 127.0.0.1:{server.port}: "):
        other.start()
    assert not other.running


def test_start_twice_and_url_before_start_are_errors(server: MockGraphServer) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = MockGraphServer(app=server.app).url


def test_config_and_app_together_are_refused(server: MockGraphServer) -> None:
    with pytest.raises(ValueError, match="not both"):
        MockGraphServer(Config(), app=server.app)
    with pytest.raises(ValueError, match="not both"):
        server.reconfigure(Config(), app=server.app)


def test_a_config_builds_its_own_app(contracts: Contracts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Contracts, "load", classmethod(lambda cls, directory=None: contracts))
    live = MockGraphServer(Config(require_auth=False))
    assert live.config == Config(require_auth=False)
    assert repr(live) == "<MockGraphServer not started>"


def test_reconfigure_swaps_the_app_and_keeps_the_url(server: MockGraphServer) -> None:
    url = server.url
    create(server, "old")
    contracts = server.state.contracts
    server.reconfigure(Config(require_auth=False))
    assert server.url == url
    assert server.state.contracts is contracts  # compiled once, reused
    assert list(server.store) == [] and server.requests == []
    response = requests.post(url + KEYSETS, json={"id": "open"}, timeout=10)
    assert response.status_code == 201  # no token needed any more


def test_the_server_writes_no_access_log(
    server: MockGraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        create(server, "quiet")
    assert [r for r in caplog.records if r.name == "werkzeug"] == []


def break_serve_loop(live: MockGraphServer, message: str) -> None:
    """Make the real serve loop of this server (only this one) raise on its next turn, as a
    broken socket would, and wait for its thread to end."""
    bound, thread = live._server, live._thread
    assert bound is not None and thread is not None

    def crash() -> None:
        raise OSError(message)

    bound.service_actions = crash  # type: ignore[method-assign]
    thread.join(10)
    assert not thread.is_alive()


def test_an_error_that_ends_the_serve_loop_is_raised_by_check_and_stop(
    shared_app: Flask,
) -> None:
    live = MockGraphServer(app=shared_app).start()
    live.check()  # nothing wrong yet
    break_serve_loop(live, "the listening socket broke")
    assert not live.running
    with pytest.raises(OSError, match="the listening socket broke"):
        live.check()
    with pytest.raises(OSError, match="the listening socket broke"):
        live.stop()
    live.stop()  # reported once; the server is stopped


def test_a_serve_loop_that_dies_at_once_fails_start_and_closes_the_socket(
    shared_app: Flask,
) -> None:
    class DiesAtOnce(MockGraphServer):
        def _serve(self) -> None:
            # As if serve_forever() raised before start() looked: deterministic, no race.
            self._error = OSError("thread error")
            self._ready.set()

    live = DiesAtOnce(app=shared_app)
    with pytest.raises(OSError, match="thread error"):
        live.start()
    assert not live.running
    with pytest.raises(RuntimeError, match="not started"):
        _ = live.port


def test_the_body_error_wins_over_a_thread_error_when_leaving_with(shared_app: Flask) -> None:
    with (
        pytest.raises(KeyError, match="body error"),
        MockGraphServer(app=shared_app) as live,
    ):
        break_serve_loop(live, "thread error")
        raise KeyError("body error")


def test_a_host_that_is_not_loopback_is_refused_unless_allow_remote(
    contracts: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Contracts, "load", classmethod(lambda cls, directory=None: contracts))
    with pytest.raises(ValueError, match="0.0.0.0 is not a loopback address; pass allow_remote"):
        MockGraphServer(host="0.0.0.0")
    with MockGraphServer(Config(), host="0.0.0.0", allow_remote=True) as live:
        assert live.config.allow_remote  # the app built here answers any Host too
        url = f"http://127.0.0.1:{live.port}/beta" + KEYSETS
        got = requests.get(url, headers={**AUTH, "Host": "mock.example"}, timeout=10)
        assert got.status_code == 200


# -- HTTPS ------------------------------------------------------------------------------------
@pytest.fixture
def https(shared_app: Flask, ca_home: Path) -> Iterator[MockGraphServer]:
    with MockGraphServer(app=shared_app, tls=True) as live:
        live.reset()
        yield live


def test_tls_serves_https_with_a_certificate_of_the_ca_at_ca_path(
    https: MockGraphServer, ca_home: Path
) -> None:
    assert https.tls
    assert https.url == f"https://127.0.0.1:{https.port}/beta"
    assert https.authority == https.root_url == f"https://127.0.0.1:{https.port}"
    assert https.ca_path == ca_home / "ca.pem"
    trusting = ssl.create_default_context(cafile=str(https.ca_path))
    with (
        socket.create_connection(("127.0.0.1", https.port), timeout=10) as raw,
        trusting.wrap_socket(raw, server_hostname="localhost") as tls_socket,
    ):
        assert tls_socket.version() in {"TLSv1.2", "TLSv1.3"}
    with requests.Session() as public_cas, pytest.raises(requests.exceptions.SSLError):
        public_cas.trust_env = False  # requests' own bundle only: no mockgraph CA in it
        public_cas.get(https.url + KEYSETS, headers=AUTH, timeout=10)


def test_an_http_server_has_no_ca(server: MockGraphServer) -> None:
    assert not server.tls and server.ca_path is None


def test_session_trusts_the_ca_sends_no_token_and_ignores_the_environment(
    https: MockGraphServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "other.pem").write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "other.pem"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login user password netrc-secret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    with https.session() as session:
        assert session.get(https.url + KEYSETS, timeout=10).status_code == 401
        assert "Authorization" not in https.requests[-1].headers
        created = session.post(https.url + KEYSETS, json={"id": "s"}, headers=AUTH, timeout=10)
        assert created.status_code == 201


def test_credential_signs_in_at_the_mock_as_its_first_registered_app(
    contracts: Contracts, ca_home: Path
) -> None:
    apps = ("first-app:first-secret=TrustFrameworkKeySet.ReadWrite.All", "second:s=x")
    config = Config(verify_tokens=True, apps=apps)
    with MockGraphServer(app=create_app(config, contracts=contracts), tls=True) as live:
        with live.credential() as credential:
            token = credential.get_token("https://graph.microsoft.com/.default").token
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["appid"], claims["tid"]) == ("first-app", "mockgraph")
        headers = {"Authorization": f"Bearer {token}"}
        with live.session() as session:
            created = session.post(live.url + KEYSETS, json={"id": "c"}, headers=headers)
        assert created.status_code == 201
        with live.credential(secret="wrong") as credential, pytest.raises(Exception) as refused:
            credential.get_token("https://graph.microsoft.com/.default")
        assert "AADSTS7000215" in str(refused.value)


def test_credential_takes_any_app_when_none_is_registered(https: MockGraphServer) -> None:
    with https.credential(tenant="contoso") as credential:
        token = credential.get_token("https://graph.microsoft.com/.default").token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["appid"], claims["tid"]) == ("mockgraph-client", "contoso")
    assert "TrustFrameworkKeySet.ReadWrite.All" in claims["roles"]


def test_credential_needs_https(server: MockGraphServer) -> None:
    with pytest.raises(RuntimeError, match="azure-identity signs in over HTTPS only"):
        server.credential()


def test_clients_name_the_package_they_need_when_it_is_missing(
    https: MockGraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    monkeypatch.setitem(sys.modules, "requests", None)
    with pytest.raises(ImportError, match="pip install azure-identity"):
        https.credential()
    with pytest.raises(ImportError, match="pip install requests"):
        https.session()


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_binds_with_or_without_brackets(shared_app: Flask, host: str) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    with MockGraphServer(app=shared_app, host=host) as live:
        live.reset()
        assert live.url == f"http://[::1]:{live.port}/beta"
        assert requests.get(live.url + KEYSETS, headers=AUTH, timeout=10).status_code == 200
