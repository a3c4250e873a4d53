"""CORS through the app: preflights, the origin policy, the headers exposed to a page's script
on success and error answers (below ``/beta`` only, never on the control API), and
``mockgraph serve --cors-origin``."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph import cli as cli_module
from mockgraph.features.cors import OriginPolicy, allowed_request_headers
from mockgraph.http.contracts import Contracts
from mockgraph.http.errors import StartupError
from mockgraph.serve.production import Listen
from mockgraph.serve.worker import Build
from mockgraph.state import mockgraph

BASE = "/beta/trustFramework/keySets"
PAGE = "http://localhost:5173"


def preflight(client: FlaskClient, origin: str, **headers: str) -> Any:
    return client.options(
        BASE,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
            **headers,
        },
    )


def split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def no_cors_headers(response: Any) -> bool:
    return not any(name.lower().startswith("access-control-") for name in response.headers.keys())


def test_preflight_from_a_localhost_page_is_answered_204_without_a_token(app: Flask) -> None:
    # No bearer token: a browser never sends Authorization on a preflight.
    response = preflight(app.test_client(), PAGE)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert set(split(response.headers["Access-Control-Allow-Methods"])) == {
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    }
    assert {"authorization", "content-type", "client-request-id"} <= {
        h.lower() for h in split(response.headers["Access-Control-Allow-Headers"])
    }
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]
    assert response.data == b""


def test_preflight_allows_known_requested_headers_and_leaves_out_the_others(app: Flask) -> None:
    response = preflight(
        app.test_client(),
        PAGE,
        **{"Access-Control-Request-Headers": "Prefer, X-MockGraph-Fault, X-Evil, SdkVersion"},
    )
    allowed = {h.lower() for h in split(response.headers["Access-Control-Allow-Headers"])}
    assert {"prefer", "x-mockgraph-fault", "sdkversion"} <= allowed
    assert "x-evil" not in allowed


def test_allowed_request_headers_lists_the_base_headers_once() -> None:
    assert allowed_request_headers("AUTHORIZATION, content-type, prefer, prefer") == [
        "Authorization",
        "Content-Type",
        "client-request-id",
        "prefer",
    ]


def test_preflight_from_a_disallowed_origin_gets_403_and_no_cors_headers(app: Flask) -> None:
    response = preflight(app.test_client(), "https://evil.example")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "accessDenied"
    assert "evil.example" in response.get_json()["error"]["message"]
    assert no_cors_headers(response)
    assert "Origin" in response.headers["Vary"]


def test_preflight_asking_for_private_network_access_is_allowed(app: Flask) -> None:
    response = preflight(
        app.test_client(), PAGE, **{"Access-Control-Request-Private-Network": "true"}
    )
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


def test_a_preflight_changes_no_state_and_breaks_no_contract(app: Flask) -> None:
    state = mockgraph(app)
    preflight(app.test_client(), PAGE)
    assert len(state.stores["keySets"]) == 0
    (entry,) = state.journal.entries()
    assert entry.method == "OPTIONS"
    assert entry.violations == []


def test_answer_to_an_allowed_origin_exposes_request_id_and_location(
    client: FlaskClient,
) -> None:
    response = client.post(BASE, json={"id": "cors"}, headers={"Origin": PAGE})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    exposed = {h.lower() for h in split(response.headers["Access-Control-Expose-Headers"])}
    assert exposed == {"request-id", "client-request-id", "retry-after", "location"}
    assert response.headers["Location"]
    assert response.headers["request-id"]


def test_a_401_is_readable_by_the_page(app: Flask) -> None:
    response = app.test_client().get(BASE, headers={"Origin": PAGE})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert "request-id" in response.headers["Access-Control-Expose-Headers"]


def test_a_throttled_429_is_readable_with_its_retry_after(client: FlaskClient) -> None:
    response = client.get(BASE, headers={"Origin": PAGE, "X-MockGraph-Fault": "429 retry-after=2"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Retry-After" in split(response.headers["Access-Control-Expose-Headers"])


def test_a_disallowed_origin_gets_the_answer_without_cors_headers(client: FlaskClient) -> None:
    response = client.get(BASE, headers={"Origin": "http://evil.example"})
    assert response.status_code == 200  # the browser, not the server, blocks the page
    assert no_cors_headers(response)
    assert "Origin" in response.headers["Vary"]


def test_a_request_without_origin_gets_no_cors_headers_but_varies_on_origin(
    client: FlaskClient,
) -> None:
    response = client.get(BASE)
    assert no_cors_headers(response)
    assert "Origin" in response.headers["Vary"]


def test_a_page_allowed_below_beta_gets_no_cors_from_the_control_api(client: FlaskClient) -> None:
    graph = client.get(BASE, headers={"Origin": PAGE})
    assert (graph.status_code, graph.headers["Access-Control-Allow-Origin"]) == (200, PAGE)
    for origin in (PAGE, "http://localhost"):  # another port, and the server's own origin
        control = client.get("/_mockgraph/health", headers={"Origin": origin})
        assert no_cors_headers(control)
    control_preflight = client.options(
        "/_mockgraph/reset", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"}
    )
    assert control_preflight.status_code == 403
    assert no_cors_headers(control_preflight)


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "http://localhost:3000",
        "https://localhost:8443",
        "http://127.0.0.1:5173",
        "http://[::1]:8080",
        "HTTP://LOCALHOST:3000",
    ],
)
def test_default_policy_allows_any_loopback_origin(origin: str) -> None:
    assert OriginPolicy.from_config(None).allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "",
        "null",
        "http://localhost.evil.example",
        "http://evil.example",
        "http://127.0.0.2:3000",
        "ftp://localhost",
        "http://localhost:3000/path",
        "http://user@localhost",
    ],
)
def test_default_policy_refuses_other_origins(origin: str | None) -> None:
    assert not OriginPolicy.from_config(None).allows(origin)


def test_configured_origins_replace_the_default_and_ignore_case_and_a_trailing_slash() -> None:
    policy = OriginPolicy.from_config(("https://App.Example.com/", "http://localhost:3000"))
    assert policy.allows("https://app.example.com")
    assert policy.allows("http://localhost:3000")
    assert not policy.allows("http://localhost:3001")
    assert not policy.allows("https://app.example.com.evil.example")


def test_a_star_allows_any_origin() -> None:
    policy = OriginPolicy.from_config(("http://localhost:3000", "*"))
    assert policy.allows("https://anything.example")
    assert policy.allows("null")


@pytest.mark.parametrize("bad", ["localhost:3000", "http://localhost:3000/app", "http://"])
def test_a_malformed_configured_origin_stops_the_start(bad: str, contracts: Contracts) -> None:
    with pytest.raises(StartupError, match="CORS origin"):
        create_app(Config(cors_origins=(bad,)), contracts=contracts)


def test_an_app_configured_for_one_origin_refuses_localhost(contracts: Contracts) -> None:
    app = create_app(Config(cors_origins=("https://app.example.com",)), contracts=contracts)
    assert preflight(app.test_client(), PAGE).status_code == 403
    response = preflight(app.test_client(), "https://app.example.com")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_serve_cors_origin_option_reaches_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Flask] = []

    def fake_serve(build: Build, listen: Listen, **_: Any) -> int:
        seen.append(build.app())
        return 0

    monkeypatch.setattr(cli_module, "serve", fake_serve)
    result = CliRunner().invoke(
        cli_module.main,
        ["serve", "--port", "0", "--cors-origin", "https://a.example", "--cors-origin", "*"],
    )
    assert result.exit_code == 0, result.output
    assert mockgraph(seen[0]).config.cors_origins == ("https://a.example", "*")


def test_serve_refuses_a_malformed_cors_origin_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_module, "serve", lambda build, listen, **_: build.app() and 0)
    result = CliRunner().invoke(
        cli_module.main, ["serve", "--port", "0", "--cors-origin", "localhost:3000"]
    )
    assert result.exit_code == 1
    assert "CORS origin 'localhost:3000'" in result.output
    assert "Traceback" not in result.output
