"""Secrets stay where they were put: a session hands the served mock unique canary strings in
every secret member (``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``), passwords, a PFX,
PEM private keys, bearer tokens, ``access_token``/``client_secret`` query values and API-key
headers, spelled with JSON escapes and in odd letter case, in accepted and refused requests
and in ``$batch`` items. Then every answer (body and headers), the server's stderr log, every
journal entry, every recording and the state file are searched.

Only the private members of keys stored on purpose may appear, and only in the state file and
in ``GET /_mockgraph/state?secrets=true`` (loopback); every other canary appears nowhere.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from attacks.served import KEYSETS, Answer, Served, stop_and_check
from crypto_factory import cert_pem, make_certificate, make_pfx_b64, make_rsa_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mockgraph.features.tokens import make_token

pytestmark = pytest.mark.slow

ITEM = f"{KEYSETS}/B2C_1A_Canaries"
#: Where the server legitimately shows stored secrets.
SECRETS_VIEW = "/_mockgraph/state?secrets=true"


def canary(label: str) -> str:
    """A unique string, in the base64url alphabet (so a key member accepts it)."""
    return f"cnry{''.join(c for c in label if c.isalnum()).lower()}{secrets.token_hex(10)}"


def escaped(text: str) -> str:
    """``text`` as a JSON string's content with every other character a ``\\u`` escape, in
    upper and lower case hex."""
    return "".join(
        (f"\\u{ord(c):04X}" if i % 4 == 1 else f"\\u{ord(c):04x}") if i % 2 else c
        for i, c in enumerate(text)
    )


def b64url_int(n: int) -> str:
    return (
        base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")
    )


def private_members(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.private_numbers()
    return {
        "d": b64url_int(numbers.d),
        "p": b64url_int(numbers.p),
        "q": b64url_int(numbers.q),
        "dp": b64url_int(numbers.dmp1),
        "dq": b64url_int(numbers.dmq1),
        "qi": b64url_int(numbers.iqmp),
    }


@dataclass
class Session:
    """The canaries a session placed: ``stored`` ones (private members of keys kept on
    purpose) and ``hidden`` ones (everything else), each with the spellings to search for."""

    served: Served
    stored: dict[str, set[str]] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)
    #: The kind of each hidden canary (see :data:`KINDS`), set while placing them.
    kinds: dict[str, str] = field(default_factory=dict)
    kind: str = ""

    def store(self, label: str, value: str, *spellings: str) -> str:
        self.stored[label] = {value, *spellings}
        return value

    def hide(self, label: str, value: str, *spellings: str) -> str:
        self.hidden[label] = {value, *spellings}
        self.kinds[label] = self.kind
        return value

    def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str | bytes] | None = None,
        *,
        token: str | None = "Bearer canary-session",
        ok: bool | None = None,
    ) -> Answer:
        chosen: dict[str, str | bytes] = {"Content-Type": "application/json"} if body else {}
        chosen.update(headers or {})
        answer = self.served.request(method, target, body, chosen, token=token)
        assert answer.status < 500, answer.text()
        if ok is True:
            assert 200 <= answer.status < 300, answer.text()
        if ok is False:
            assert 400 <= answer.status < 500, answer.text()
        return answer


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


UPLOAD_SECRET = f"{ITEM}/uploadSecret"
UPLOAD_PKCS12 = f"{ITEM}/uploadPkcs12"
#: Bodies that are refused and carry a canary (``{v}``) in a secret member, each spelled in a
#: way a client may spell it: (label, target, body made of the canary).
REFUSED_BODIES: list[tuple[str, str, Callable[[str], bytes]]] = [
    ("bad use beside k", UPLOAD_SECRET, lambda v: _json({"use": "nope", "k": v})),
    ("upper-case K", UPLOAD_SECRET, lambda v: _json({"use": "sig", "K": v})),
    ("unknown member beside k", UPLOAD_SECRET, lambda v: _json({"use": "sig", "k": v, "x": 7})),
    ("k in a list", UPLOAD_SECRET, lambda v: _json({"use": "sig", "k": [v]})),
    ("k with spaces", UPLOAD_SECRET, lambda v: _json({"use": "sig", "k": f"{v} x", "nbf": "x"})),
    ("d of an EC key", KEYSETS, lambda v: _json({"id": "Ec", "keys": [{"kty": "EC", "d": v}]})),
    (
        "D of a repeated kid",
        KEYSETS,
        lambda v: _json({"id": "Dup", "keys": [{"kid": "a", "D": v}, {"kid": "a"}]}),
    ),
    ("wrong PASSWORD", UPLOAD_PKCS12, lambda v: _json({"key": "AAAA", "PASSWORD": v})),
    ("password an object", UPLOAD_PKCS12, lambda v: _json({"key": "AAAA", "password": {"x": v}})),
    ("truncated JSON", UPLOAD_SECRET, lambda v: b'{"use": "sig", "k": "%s"' % v.encode()),
    ("a Python repr", UPLOAD_SECRET, lambda v: str({"use": "sig", "k": v}).encode()),
    ("a form", UPLOAD_SECRET, lambda v: f"use=sig&k={v}".encode()),
    (
        "an escaped K",
        UPLOAD_SECRET,
        lambda v: b'{"use": "nope", "\\u004B": "%s"}' % escaped(v).encode(),
    ),
    (
        "a lone surrogate beside k",
        UPLOAD_SECRET,
        lambda v: b'{"use": "\\ud800", "k": "%s"}' % v.encode(),
    ),
    ("a BOM", UPLOAD_SECRET, lambda v: b'\xef\xbb\xbf{"use": "sig", "k": "%s"}' % v.encode()),
    ("UTF-16", UPLOAD_SECRET, lambda v: json.dumps({"use": "nope", "k": v}).encode("utf-16")),
    (
        "nesting beside k",
        UPLOAD_SECRET,
        lambda v: b'{"k": "%s", "use": %s}' % (v.encode(), b"[" * 70 + b"]" * 70),
    ),
    # json.dumps(json.dumps(body)): a client bug that sends a JSON string holding the body.
    ("double-encoded JSON", UPLOAD_SECRET, lambda v: _json(json.dumps({"use": "sig", "k": v}))),
]
SECRET_OPTIONS = (
    "access_token", "ACCESS_TOKEN", "client_secret", "Client_Secret", "%61ccess_token",
    "$access_token", "password", "code", "sig", "api_key",
)  # fmt: skip
SECRET_HEADERS = (
    "X-Api-Key", "x-API-kEy", "Cookie", "Proxy-Authorization", "X-Client-Secret", "X-Auth-Token",
)  # fmt: skip
GRAPH_SCOPE = "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"


def store_keys(s: Session) -> None:
    """Private members of keys stored on purpose: in a create (a member name spelled with an
    escape, the value with escapes), a PATCH, uploadSecret, a $batch item, a PFX's key."""
    rsa = {
        m: s.store(f"created {m}", canary(f"created{m}")) for m in private_members(make_rsa_key())
    }
    rsa_key = {"kid": "r", "kty": "RSA", "use": "sig", "n": "AQAB", "e": "AQAB", **rsa}
    oct_k = canary("createdk")
    s.store("created k", oct_k, escaped(oct_k))
    oct_key = b'{"kid": "o", "kty": "oct", "use": "enc", "\\u006b": "%s"}' % escaped(oct_k).encode()
    create = b'{"id": "Canaries", "keys": [%s, %s]}' % (_json(rsa_key), oct_key)
    s.send("POST", KEYSETS, create, ok=True)
    put_k = s.store("patched k", canary("patchedk"))
    keys = [rsa_key, {"kid": "o", "kty": "oct", "k": oct_k}, {"kid": "p", "k": put_k}]
    s.send("PATCH", f"{KEYSETS}('B2C_1A_Canaries')", _json({"keys": keys}), ok=True)
    uploaded = s.store("uploaded k", canary("uploadedk"))
    upload = b'{"use": "sig", "\\u006B": "%s"}' % escaped(uploaded).encode()
    s.send("POST", UPLOAD_SECRET, upload, ok=True)
    batch_k = s.store("batched k", canary("batchedk"))
    item = {
        "id": "1",
        "method": "POST",
        "url": "/trustFramework/keySets",
        "headers": {"Content-Type": "application/json"},
        "body": {"id": "Batched", "keys": [{"kid": "b", "kty": "oct", "k": batch_k}]},
    }
    s.send("POST", "/beta/$batch", _json({"requests": [item]}), ok=True)
    s.kind = "a PFX and its password"
    pfx_key = make_rsa_key()
    password = s.hide("PFX password", canary("pfxpassword"))
    pfx = make_pfx_b64(password, key=pfx_key)
    s.hide("PFX file", pfx, pfx[len(pfx) // 2 : len(pfx) // 2 + 40])
    for member, value in private_members(pfx_key).items():
        s.store(f"PFX {member}", value)
    s.send("POST", UPLOAD_PKCS12, _json({"key": pfx, "password": password}), ok=True)
    s.send("POST", UPLOAD_PKCS12, _json({"key": pfx, "password": password + "x"}), ok=False)
    s.send("POST", f"{ITEM}/generateKey", b'{"use": "sig", "kty": "oct"}', ok=True)


def send_credentials(s: Session) -> None:
    """Bearer tokens (opaque, JWT, odd-case scheme, none), secret query options (odd case,
    escaped names and values) and secret headers (odd case), in answered and refused requests."""
    s.kind = "bearer tokens"
    opaque = s.hide("opaque token", canary("opaquetoken"))
    s.send("GET", KEYSETS, token=f"Bearer {opaque}", ok=True)
    odd = s.hide("odd-case scheme", canary("oddcasetoken"))
    s.send("GET", ITEM, token=f"bEaReR {odd}", ok=True)
    claims = {"canary": canary("jwtclaim")}
    jwt = s.hide("JWT", make_token(scp="TrustFrameworkKeySet.ReadWrite.All", claims=claims))
    s.send("GET", f"{ITEM}/getActiveKey()", token=f"Bearer {jwt}", ok=True)
    bare = s.hide("no scheme", canary("baretoken"))
    s.send("GET", KEYSETS, token=bare, ok=False)
    s.kind = "secret query values"
    for name in SECRET_OPTIONS:
        value = canary(f"query{name}")
        spelled = quote(value[:6]) + "".join(f"%{b:02X}" for b in value[6:].encode())
        s.hide(f"query option {name}", value, spelled)
        s.send("GET", f"{KEYSETS}?{name}={spelled}&$top=1")
        s.send("GET", f"{KEYSETS}?$top=bad&{name}={value}", ok=False)
    s.kind = "secret headers"
    for name in SECRET_HEADERS:
        value = s.hide(f"header {name}", canary(f"header{name}"))
        s.send("GET", KEYSETS, headers={name: value}, ok=True)
        s.send("POST", KEYSETS, b"{", headers={name: value}, ok=False)


def send_refused_bodies(s: Session) -> None:
    s.kind = "refused bodies"
    for label, target, make in REFUSED_BODIES:
        s.send("POST", target, make(s.hide(label, canary(label))), ok=False)


def upload_private_keys(s: Session) -> None:
    """PEM private keys in uploadCertificate bodies: after, before and inside a certificate's
    PEM, with CRLF line ends, base64 of such a file, dashes spelled as JSON escapes; and a PFX
    sent to the certificate endpoint by mistake."""
    s.kind = "PEM private keys"
    key = make_rsa_key()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    lines = key_pem.splitlines()[1:-1]
    s.hide("PEM key lines", lines[3], lines[5], lines[-2])
    _, certificate = make_certificate(key=key)
    with_key = cert_pem(certificate) + key_pem
    for text in (with_key, with_key.replace("\n", "\r\n"), key_pem + cert_pem(certificate)):
        s.send("POST", f"{ITEM}/uploadCertificate", _json({"key": text}))
        encoded = base64.b64encode(text.encode()).decode()
        middle = encoded[len(encoded) // 2 : len(encoded) // 2 + 40]
        s.hide(f"base64 of a PEM file {len(s.hidden)}", middle)
        s.send("POST", f"{ITEM}/uploadCertificate", _json({"key": encoded}))
    dashes = json.dumps(key_pem).replace("-", "\\u002d").encode()
    s.send("POST", f"{ITEM}/uploadCertificate", b'{"key": %s}' % dashes, ok=False)
    s.kind = "a PFX sent to the certificate endpoint"
    wrong = make_pfx_b64(None, key=make_rsa_key())
    s.hide("PFX as a certificate", wrong, wrong[len(wrong) // 2 : len(wrong) // 2 + 40])
    s.send("POST", f"{ITEM}/uploadCertificate", _json({"key": wrong}), ok=False)


def batch_credentials(s: Session) -> None:
    """A $batch whose items carry a bearer token, an API key, an access_token query value and
    a refused secret."""
    s.kind = "$batch items"
    token = s.hide("item Authorization", canary("batchitemtoken"))
    api_key = s.hide("item X-Api-Key", canary("batchitemapikey"))
    query = s.hide("item access_token", canary("batchitemaccesstoken"))
    refused = s.hide("item refused k", canary("batchitemrefusedk"))
    items = [
        {
            "id": "1",
            "method": "GET",
            "url": f"/trustFramework/keySets?access_token={query}",
            "headers": {"Authorization": f"Bearer {token}", "X-Api-Key": api_key},
        },
        {
            "id": "2",
            "method": "POST",
            "url": "/trustFramework/keySets/B2C_1A_Canaries/uploadSecret",
            "headers": {"Content-Type": "application/json"},
            "body": {"use": "nope", "k": refused},
        },
    ]
    s.send("POST", "/beta/$batch", _json({"requests": items}), ok=True)


def sign_in_and_control(s: Session) -> None:
    s.kind = "the sign-in authority and the control API"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = "/common/oauth2/v2.0/token"
    secret = s.hide("client_secret", canary("clientsecret"))
    grant = f"grant_type=client_credentials&client_id=app&{GRAPH_SCOPE}"
    s.send("POST", token, f"{grant}&client_secret={secret}".encode(), form, token=None, ok=True)
    assertion = s.hide("client_assertion", canary("clientassertion"))
    body = f"{grant}&client_assertion={assertion}".encode()
    s.send("POST", token, body, form, token=None, ok=False)
    refused = s.hide("refused state k", canary("refusedstatek"))
    document = {"keySets": [{"id": "A", "keys": [{"kty": "oct", "k": refused}]}, {"id": "a"}]}
    s.send("POST", "/_mockgraph/state", _json(document), token=None, ok=False)


def place_canaries(s: Session) -> None:
    """Every way a secret reaches the mock; see the module docstring."""
    store_keys(s)
    send_credentials(s)
    send_refused_bodies(s)
    upload_private_keys(s)
    batch_credentials(s)
    sign_in_and_control(s)
    # Key material the mock made itself (generateKey, the PFX upload) is stored on purpose too.
    for item in s.served.state()["keySets"]:
        for key in item["keys"]:
            for member in ("k", "d", "p", "q", "dp", "dq", "qi"):
                if member in key and key[member] != "AQAB":
                    s.stored.setdefault(f"{item['id']}/{key.get('kid')}/{member}", {key[member]})


@pytest.fixture(scope="module")
def session(served: Served) -> Iterator[Session]:
    """The session, placed once; afterwards the server is stopped (SIGTERM) and what it wrote
    as it stopped is searched too."""
    served.seed({"keySets": []})
    served.clear_journal()
    placed = Session(served)
    place_canaries(placed)
    yield placed
    stop_and_check(served)
    found = leaks({**placed.hidden, **placed.stored}, {"stderr log": served.log().lower()})
    assert found == [], "\n".join(found)


def places(s: Session) -> dict[str, str]:
    """Every place a secret could leak to, as lower-case text; the secrets view apart."""
    served = s.served
    found: dict[str, str] = {
        "journal": json.dumps(served.journal()),
        "state (redacted)": served.request("GET", "/_mockgraph/state", token=None).text(),
        "stderr log": served.log(),
        "state file": served.state_file.read_text(encoding="utf-8", errors="replace"),
    }
    for name, text in served.recordings().items():
        found[f"recording {name}"] = text
    for index, answer in enumerate(served.answers):
        if answer.target.startswith("/_mockgraph/requests"):
            continue  # the journal, searched above
        where = "secrets view" if answer.target == SECRETS_VIEW else "answer"
        found[f"{where} {index} {answer.method} {answer.target[:80]}"] = answer.text()
    return {where: text.lower() for where, text in found.items()}


def leaks(
    canaries: dict[str, set[str]], found: dict[str, str], allowed: tuple[str, ...] = ()
) -> list[str]:
    return sorted(
        f"{label} in {where}"
        for where, text in found.items()
        if not where.startswith(allowed)
        for label, spellings in canaries.items()
        if any(spelling.lower() in text for spelling in spellings)
    )


KINDS = [
    "bearer tokens",
    "secret query values",
    "secret headers",
    "refused bodies",
    "a PFX and its password",
    "PEM private keys",
    "a PFX sent to the certificate endpoint",
    "$batch items",
    "the sign-in authority and the control API",
]


@pytest.mark.parametrize("kind", KINDS)
def test_no_canary_of_a_request_appears_in_any_answer_log_journal_recording_or_state(
    session: Session, kind: str
) -> None:
    canaries = {k: v for k, v in session.hidden.items() if session.kinds[k] == kind}
    assert canaries, kind
    found = leaks(canaries, places(session))
    assert found == [], "\n".join(found)


def test_stored_secrets_appear_only_in_the_state_file_and_the_loopback_secrets_view(
    session: Session,
) -> None:
    found = leaks(session.stored, places(session), allowed=("state file", "secrets view"))
    assert found == [], "\n".join(found)


def test_the_session_left_traces_in_every_place_searched(session: Session) -> None:
    # Guards the two tests above against passing because a place stayed empty.
    found = places(session)
    assert '"operation":"uploadpkcs12"' in found["stderr log"].replace(" ", "")
    assert "uploadpkcs12" in found["journal"] and "$batch" in found["journal"]
    assert sum(where.startswith("recording ") for where in found) >= 20
    missing = [
        label
        for label, spellings in session.stored.items()
        if not any(spelling.lower() in found["state file"] for spelling in spellings)
    ]
    assert missing == [], f"stored on purpose, yet not in the state file: {missing}"
    view = session.served.request("GET", SECRETS_VIEW, token=None).text().lower()
    assert all(any(v.lower() in view for v in spellings) for spellings in session.stored.values())
    assert len(session.hidden) >= 40 and len(session.stored) >= 15
    assert set(session.kinds.values()) == set(KINDS)
