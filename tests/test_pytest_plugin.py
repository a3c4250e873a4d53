"""The pytest plugin's fixtures, run with pytester: fresh state per test, one live server per
session (per xdist worker) and TLS setting, an overridable config, the mockgraph_state marker,
errors of the server thread failing a test, the requests session and azure-identity
credential, fixtures only (no autouse, every name mockgraph_*). Its report:
test_pytest_plugin_report.py."""

from __future__ import annotations

import json
import re

import pytest
from plugin_runs import HEADER, run, share_contracts

from mockgraph.http.contracts import Contracts

pytest_plugins = ["pytester"]


@pytest.fixture
def pytester(pytester: pytest.Pytester, contracts: Contracts) -> pytest.Pytester:
    return share_contracts(pytester, contracts)


def test_every_test_gets_empty_state_and_the_same_session_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        HEADER
        + """
urls = []

def test_client_first(mockgraph_client):
    assert mockgraph_client.post("/beta" + KEYSETS, json={"id": "same"}).status_code == 201

def test_client_again_same_id(mockgraph_client, mockgraph_app):
    assert mockgraph_client.post("/beta" + KEYSETS, json={"id": "same"}).status_code == 201
    from mockgraph.state import mockgraph
    assert [k.id for k in mockgraph(mockgraph_app).stores["keySets"]] == ["B2C_1A_same"]

def test_server_first(mockgraph_server):
    urls.append(mockgraph_server.url)
    r = requests.post(mockgraph_server.url + KEYSETS, json={"id": "same"}, headers=AUTH)
    assert r.status_code == 201

def test_server_again_same_id(mockgraph_server):
    urls.append(mockgraph_server.url)
    r = requests.post(mockgraph_server.url + KEYSETS, json={"id": "same"}, headers=AUTH)
    assert r.status_code == 201
    assert [e.operation for e in mockgraph_server.requests] == ["createKeySet"]
    assert urls[0] == urls[1] and urls[0].startswith("http://127.0.0.1:")

def test_no_autouse(request):
    # a test that asks for no mockgraph fixture gets none (so no server, no app)
    assert [n for n in request.fixturenames if n.startswith("mockgraph")] == []
"""
    )
    run(pytester).assert_outcomes(passed=5)


def test_an_overridden_config_is_honoured_by_app_and_server_on_the_same_url(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_a_open=HEADER
        + """
import pytest
from mockgraph import Config

@pytest.fixture
def mockgraph_config():
    return Config(require_auth=False, clock=1_000.0)

def test_server_open(mockgraph_server):
    r = requests.post(mockgraph_server.url + KEYSETS, json={"id": "x"})
    assert r.status_code == 201
    assert mockgraph_server.state.clock.now() == 1_000.0
    pathlib.Path("url.txt").write_text(mockgraph_server.url)

def test_client_open(mockgraph_app):
    assert mockgraph_app.test_client().post("/beta" + KEYSETS, json={"id": "x"}).status_code == 201
""",
        test_b_default=HEADER
        + """
def test_server_default(mockgraph_server):
    assert requests.post(mockgraph_server.url + KEYSETS, json={"id": "x"}).status_code == 401
    assert mockgraph_server.url == pathlib.Path("url.txt").read_text()
    assert mockgraph_server.state.clock.now() > 1_600_000_000

def test_client_default(mockgraph_client, mockgraph_app):
    assert mockgraph_app.test_client().get("/beta" + KEYSETS).status_code == 401
    assert mockgraph_client.get("/beta" + KEYSETS).status_code == 200
""",
    )
    run(pytester).assert_outcomes(passed=4)


def test_the_marker_preloads_key_sets_nearest_mark_winning(pytester: pytest.Pytester) -> None:
    data = pytester.mkdir("data")
    base = {
        "keySets": [{"id": "B2C_1A_base", "keys": [{"kid": "module"}]}, {"id": "B2C_1A_only_base"}]
    }
    override = {"keySets": [{"id": "B2C_1A_base", "keys": [{"kid": "test", "k": "c2VjcmV0"}]}]}
    (data / "base.json").write_text(json.dumps(base))
    (data / "override.json").write_text(json.dumps(override))
    pytester.makepyfile(
        HEADER
        + """
import pytest

pytestmark = pytest.mark.mockgraph_state("data/base.json")

def ids(store):
    return {k.id: [key.kid for key in k.keys] for k in store}

def test_module_mark_seeds_the_server(mockgraph_server):
    assert ids(mockgraph_server.store) == {"B2C_1A_base": ["module"], "B2C_1A_only_base": []}
    r = requests.get(mockgraph_server.url + KEYSETS + "/B2C_1A_base", headers=AUTH)
    assert r.json()["keys"] == [{"kid": "module"}]

@pytest.mark.mockgraph_state("data/override.json", {"keySets": [{"id": "inline"}]})
def test_nearest_mark_wins(mockgraph_app, mockgraph_server):
    from mockgraph.state import mockgraph
    expected = {"B2C_1A_base": ["test"], "B2C_1A_only_base": [], "B2C_1A_inline": []}
    assert ids(mockgraph(mockgraph_app).stores["keySets"]) == expected
    assert ids(mockgraph_server.store) == expected

def test_seed_is_gone_after_the_test(mockgraph_server):
    assert "B2C_1A_inline" not in mockgraph_server.store
"""
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=3)


def test_a_bad_state_file_fails_the_test_with_its_message(pytester: pytest.Pytester) -> None:
    (pytester.path / "bad.json").write_text(json.dumps({"keySets": [{"id": "a b"}]}))
    pytester.makepyfile(
        """
import pytest

@pytest.mark.mockgraph_state("missing.json")
def test_missing(mockgraph_server):
    pass

@pytest.mark.mockgraph_state("bad.json")
def test_bad(mockgraph_client):
    pass

@pytest.mark.mockgraph_state()
def test_empty(mockgraph_app):
    pass
"""
    )
    result = run(pytester)
    result.assert_outcomes(errors=3)
    result.stdout.re_match_lines(
        [
            r".*@pytest.mark.mockgraph_state: state file '.*missing.json' does not exist",
            r".*@pytest.mark.mockgraph_state: state file '.*bad.json': keySets\[0\].id: is not a"
            r" valid key set id.*",
            r".*@pytest.mark.mockgraph_state needs a state file path or document",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
    assert "During handling of the above exception" not in result.stdout.str()


def test_an_error_that_ends_the_server_thread_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
ports = []

def test_breaks_the_server(mockgraph_server):
    ports.append(mockgraph_server.port)
    def crash():
        raise OSError("the socket broke")
    # this server's serve loop only (other servers of this process run on)
    mockgraph_server._server.service_actions = crash
    mockgraph_server._thread.join(10)

def test_the_next_one_gets_a_restarted_server(mockgraph_server):
    assert mockgraph_server.running
    assert mockgraph_server.port != ports[0]
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_breaks_the_server*"])
    assert result.stdout.str().count("E       OSError: the socket broke") == 1


def test_the_marker_is_registered_and_fixtures_are_all_mockgraph_named(
    pytester: pytest.Pytester,
) -> None:
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.mockgraph_state(*sources): preload key sets*"])
    pytester.makepyfile("def test_nothing(): pass")
    listing = run(pytester, "--fixtures").stdout.str()
    section = listing.split("fixtures defined from mockgraph.pytest_plugin", 1)[1]
    section = re.split(r"fixtures defined from|={5,}", section, maxsplit=1)[0]
    names = re.findall(r"^(\w+)(?: \[\w+ scope\])? -- ", section, flags=re.MULTILINE)
    assert sorted(names) == [
        "mockgraph_app",
        "mockgraph_app_cache",
        "mockgraph_client",
        "mockgraph_config",
        "mockgraph_contracts",
        "mockgraph_credential",
        "mockgraph_requests",
        "mockgraph_server",
        "mockgraph_session_server",
        "mockgraph_session_tls_server",
    ]


@pytest.mark.slow  # starts two worker processes
def test_under_xdist_each_worker_has_its_own_server_and_no_test_sees_another(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers are new processes: load only the two plugins that matter, not every installed
    # one (schemathesis, hypothesis... take seconds to import in each worker).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        HEADER
        + """
import os
import pytest

@pytest.mark.parametrize("n", range(8))
def test_same_id_everywhere(mockgraph_server, n):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    body = {"id": "shared", "keys": [{"kid": f"{worker}-{n}"}]}
    r = requests.post(mockgraph_server.url + KEYSETS, json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    listed = requests.get(mockgraph_server.url + KEYSETS, headers=AUTH).json()["value"]
    assert listed == [{"id": "B2C_1A_shared", "keys": [{"kid": f"{worker}-{n}"}]}]
    with open(f"port-{worker}-{n}", "w") as out:
        out.write(str(mockgraph_server.port))
"""
    )
    result = pytester.runpytest(
        "-p", "xdist", "-p", "mockgraph.pytest_plugin", "-p", "no:cacheprovider", "-n", "2", "-v"
    )
    result.assert_outcomes(passed=8)
    out = result.stdout.str()
    assert re.search(r"\[gw0\] \[ *\d+%\] PASSED", out)
    assert re.search(r"\[gw1\] \[ *\d+%\] PASSED", out)
    ports: dict[str, set[str]] = {}
    for path in pytester.path.glob("port-*"):
        ports.setdefault(path.name.split("-")[1], set()).add(path.read_text())
    assert set(ports) == {"gw0", "gw1"}
    assert all(len(p) == 1 for p in ports.values())  # one server per worker, for all its tests


# -- HTTPS ------------------------------------------------------------------------------------
def test_a_tls_config_serves_https_from_its_own_session_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(pytester.path / "home"))
    pytester.makepyfile(
        test_a_tls=HEADER
        + """
import pytest
from mockgraph import Config

@pytest.fixture
def mockgraph_config():
    return Config(tls=True)

def test_https(mockgraph_server, mockgraph_requests):
    assert mockgraph_server.url.startswith("https://127.0.0.1:")
    assert mockgraph_server.ca_path == pathlib.Path("home/ca.pem").absolute()
    assert mockgraph_requests.verify == str(mockgraph_server.ca_path)
    assert mockgraph_requests.get(mockgraph_server.url + KEYSETS).status_code == 401
    r = mockgraph_requests.post(mockgraph_server.url + KEYSETS, json={"id": "t"}, headers=AUTH)
    assert r.status_code == 201
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(mockgraph_server.url + KEYSETS, verify=True)
    pathlib.Path("tls-url.txt").write_text(mockgraph_server.url)
""",
        test_b_http=HEADER
        + """
def test_http(mockgraph_server, mockgraph_requests):
    assert mockgraph_server.url.startswith("http://127.0.0.1:")
    assert mockgraph_server.ca_path is None
    listed = mockgraph_requests.get(mockgraph_server.url + KEYSETS, headers=AUTH)
    assert listed.json()["value"] == []
""",
        test_c_tls_again=HEADER
        + """
import pytest
from mockgraph import Config

@pytest.fixture
def mockgraph_config():
    return Config(tls=True, require_auth=False)

def test_same_https_server_new_config(mockgraph_server, mockgraph_requests):
    assert mockgraph_server.url == pathlib.Path("tls-url.txt").read_text()
    assert mockgraph_requests.get(mockgraph_server.url + KEYSETS).json()["value"] == []
""",
    )
    run(pytester).assert_outcomes(passed=3)  # in file order: a, b, c


def test_mockgraph_credential_signs_in_at_the_mock(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKGRAPH_HOME", str(pytester.path / "home"))
    pytester.makepyfile(
        test_a_credential=HEADER
        + """
import pytest
from mockgraph import Config

@pytest.fixture
def mockgraph_config():
    app = "ci-app:ci-secret=TrustFrameworkKeySet.ReadWrite.All"
    return Config(tls=True, verify_tokens=True, apps=(app,))

def test_token_is_accepted(mockgraph_server, mockgraph_credential, mockgraph_requests):
    token = mockgraph_credential.get_token("https://graph.microsoft.com/.default").token
    headers = {"Authorization": "Bearer " + token}
    r = mockgraph_requests.post(mockgraph_server.url + KEYSETS, json={"id": "c"}, headers=headers)
    assert r.status_code == 201
    operations = [e.operation for e in mockgraph_server.requests]
    assert operations == ["authority.openid_configuration", "authority.token", "createKeySet"]
    assert "ci-secret" not in repr(mockgraph_server.requests) and token not in repr(
        mockgraph_server.requests
    )
""",
        test_b_http_credential="""
def test_needs_tls(mockgraph_credential):
    pass
""",
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*mockgraph_credential needs HTTPS: return a Config with tls=True from mockgraph_config"]
    )
