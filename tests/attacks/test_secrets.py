"""Secrets stay secret (issue 6, part 6): a whole session that hands the mock private key
members, shared secrets, a PFX with its password and bearer tokens, run on a live server with
logging at DEBUG and record mode on; none of those values may appear in the logs, the journal,
the control API, the recordings or any answer."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from crypto_factory import make_pfx_b64, make_rsa_key
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

from mockgraph import Config, create_app
from mockgraph.features.tokens import make_token
from mockgraph.http.contracts import Contracts
from mockgraph.state import MockGraph, mockgraph

BASE = "/beta/trustFramework/keySets"


def b64url_int(n: int) -> str:
    return urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def private_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.private_numbers()
    public = numbers.public_numbers
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": "imported",
        "n": b64url_int(public.n),
        "e": b64url_int(public.e),
        "d": b64url_int(numbers.d),
        "p": b64url_int(numbers.p),
        "q": b64url_int(numbers.q),
        "dp": b64url_int(numbers.dmp1),
        "dq": b64url_int(numbers.dmq1),
        "qi": b64url_int(numbers.iqmp),
    }


@dataclass
class Session:
    """What the session sent and got; ``secrets`` names every value that must not leak."""

    base_url: str
    state: MockGraph
    record_dir: Path
    secrets: dict[str, str] = field(default_factory=dict)
    answers: list[requests.Response] = field(default_factory=list)

    def call(self, method: str, path: str, token: str, body: Any = None, **kw: Any) -> Any:
        response = requests.request(
            method,
            self.base_url + path,
            headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
            json=body,
            timeout=30,
            **kw,
        )
        self.answers.append(response)
        return response


@pytest.fixture
def session(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Session]:
    for name in (None, "werkzeug", "mockgraph"):
        caplog.set_level(logging.DEBUG, logger=name)
    record_dir = tmp_path / "recordings"
    record_dir.mkdir()
    app = create_app(Config(record_dir=record_dir), contracts=Contracts.load())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Session(f"http://127.0.0.1:{server.port}", mockgraph(app), record_dir)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def run_full_session(s: Session) -> None:
    """Every way a secret reaches the mock: in bodies, in tokens, in bad requests."""
    opaque = "opaque-" + secrets.token_urlsafe(24)
    jwt = make_token(scp="TrustFrameworkKeySet.ReadWrite.All")
    imported = private_jwk(make_rsa_key())
    shared = secrets.token_urlsafe(32)
    uploaded = secrets.token_urlsafe(32)
    password = "pw-" + secrets.token_urlsafe(16)
    pfx = make_pfx_b64(password, key=make_rsa_key())
    s.secrets.update(
        opaque_token=opaque,
        jwt_token=jwt,
        shared_k=shared,
        uploaded_k=uploaded,
        pfx_password=password,
        pfx_file=pfx,
        **{f"imported_{m}": imported[m] for m in ("d", "p", "q", "dp", "dq", "qi")},
    )

    created = s.call(
        "POST",
        BASE,
        opaque,
        {"id": "Secrets", "keys": [imported, {"kty": "oct", "use": "enc", "k": shared}]},
    )
    assert created.status_code == 201, created.text
    item = BASE + "/B2C_1A_Secrets"
    assert s.call("POST", item + "/uploadSecret", jwt, {"use": "sig", "k": uploaded}).ok
    assert s.call("POST", item + "/uploadPkcs12", opaque, {"key": pfx, "password": password}).ok
    assert s.call("POST", item + "/generateKey", jwt, {"use": "sig", "kty": "RSA"}).ok
    assert s.call("POST", item + "/generateKey", jwt, {"use": "enc", "kty": "oct"}).ok
    assert s.call("GET", item, opaque).ok
    assert s.call("GET", BASE, jwt).ok
    assert s.call("GET", item + "/getActiveKey()", opaque).ok
    replaced = s.call("PUT", item, opaque, {"keys": [imported]})
    assert replaced.ok, replaced.text

    # Refusals that carry secrets: a wrong password, bad values beside secret ones, an unknown
    # member, a token lacking permission, a body that is not JSON at all.
    refused = [
        s.call("POST", item + "/uploadPkcs12", opaque, {"key": pfx, "password": password + "x"}),
        s.call("POST", item + "/uploadSecret", opaque, {"use": "nope", "k": uploaded}),
        s.call("POST", item + "/uploadSecret", opaque, {"use": "sig", "k": shared, "x": 7}),
        s.call("POST", BASE, opaque, {"id": "Other", "keys": [{**imported, "nbf": "soon"}]}),
        s.call("POST", BASE, make_token(scp="User.Read"), {"id": "NoRight", "keys": [imported]}),
        s.call(
            "POST",
            item + "/uploadSecret",
            opaque,
            data=f'{{"use": "sig", "k": "{uploaded}"'.encode(),
            headers={"Content-Type": "application/json"},
        ),
        s.call(
            "POST",
            item + "/uploadSecret",
            opaque,
            data=f"use=sig&k={uploaded}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        s.call(  # str(dict) instead of JSON: a common client bug
            "POST",
            item + "/uploadSecret",
            opaque,
            data=str({"use": "sig", "k": uploaded}).encode(),
            headers={"Content-Type": "application/json"},
        ),
        s.call(
            "POST",
            item + "/uploadPkcs12",
            opaque,
            data=f'{{"key": "{pfx}", "password": "{password}",}}'.encode(),
            headers={"Content-Type": "application/json"},
        ),
    ]
    assert all(400 <= r.status_code < 500 for r in refused), [r.text for r in refused]

    # Key material the mock made itself is secret too.
    for key in s.state.stores["keySets"].get("B2C_1A_Secrets").keys:
        for member in ("d", "p", "q", "dp", "dq", "qi", "k"):
            value = getattr(key, member)
            if value is not None:
                s.secrets.setdefault(f"stored_{key.kid}_{member}", value)


def places(s: Session, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Every place a secret could leak to, as text."""
    found: dict[str, str] = {}
    found["logs"] = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    journal = s.state.journal
    found["journal"] = json.dumps([entry.to_json() for entry in journal.entries()])
    control = requests.get(s.base_url + "/_mockgraph/requests", timeout=30)
    if control.status_code != 404:  # the control API is optional
        found["GET /_mockgraph/requests"] = control.text
    for path in sorted(s.record_dir.rglob("*")):
        if path.is_file():
            found[f"recording {path.name}"] = path.read_text(encoding="utf-8", errors="replace")
    for i, answer in enumerate(s.answers):
        found[f"answer {i} {answer.request.method} {answer.url}"] = (
            f"{answer.status_code} {dict(answer.headers)!r} {answer.text}"
        )
    return found


def test_no_secret_of_a_full_session_appears_in_logs_journal_recordings_or_answers(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    run_full_session(session)
    leaks = [
        f"{name} in {where}"
        for where, text in places(session, caplog).items()
        for name, value in session.secrets.items()
        if value in text
    ]
    assert leaks == [], "\n".join(leaks)


def test_the_session_left_traces_in_every_place_searched(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    # Guards the test above against passing because a place it searches stayed empty.
    run_full_session(session)
    found = places(session, caplog)
    assert "POST /beta/trustFramework/keySets" in found["logs"]
    assert "uploadPkcs12" in found["journal"]
    assert any(where.startswith("recording ") for where in found), "record mode wrote nothing"
    assert len(session.secrets) >= 14
