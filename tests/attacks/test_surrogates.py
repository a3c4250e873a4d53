"""Lone surrogates against the served mock: in every string field and member name of every
operation's body (as ``\\udXXX`` escapes and as CESU-8 bytes), in path ids, query option names
and values, ``$skiptoken`` (base64 of a JSON text holding one), header values, state documents
and state files. Each is refused with Graph's 400 (the body's: naming the property) and changes
nothing (:func:`attacks.served.check_refused`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from attacks.served import (
    KEYSETS,
    SEED,
    Served,
)
from attacks.targets import (
    CESU_BYTES,
    HEADER_NAMES,
    SEEDED_ID,
    TEXT,
    Attack,
    Target,
    fuzz,
    inject,
    positions,
    run,
    skiptoken,
    with_body,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


def _escape(code: int, upper: bool) -> str:
    return ("\\u%04X" if upper else "\\u%04x") % code


#: JSON string literals (as bytes) holding lone surrogate escapes: one alone, two highs, a low
#: before a high, a high before a non-surrogate.
LONE_ESCAPES = st.builds(
    lambda pre, code, upper, post: f'"{pre}{_escape(code, upper)}{post}"'.encode(),
    TEXT,
    st.integers(0xD800, 0xDFFF),
    st.booleans(),
    TEXT,
) | st.sampled_from(
    [b'"\\ud800\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\u0041"', b'"\\ud83d\\ude00\\udfff"']
)
#: JSON string literals holding a surrogate's CESU-8 bytes.
CESU_STRINGS = st.builds(lambda pre, raw: b'"' + pre.encode() + raw + b'"', TEXT, CESU_BYTES)
#: A surrogate in a URL: its CESU-8 bytes percent-escaped, as a lenient encoder writes them.
CESU_ESCAPED = st.sampled_from(["%ED%A0%80", "%ed%bf%bf", "%ED%B0%80"])


@st.composite
def surrogate_in_a_body(draw: st.DrawFn, targets: list[Target]) -> Attack:
    target = draw(st.sampled_from(with_body(targets)))
    place, kind = draw(st.sampled_from(positions(target.body)))
    escaped = draw(st.booleans())
    fragment = draw(LONE_ESCAPES if escaped else CESU_STRINGS)
    return Attack(
        draw(st.sampled_from(target.methods)),
        target.url(draw(st.integers(0, 7))),
        inject(target.body, place, kind, fragment),
        token=target.token,
        refused=True,
        says="lone surrogate" if escaped else "not valid UTF-8",
    )


@st.composite
def surrogate_in_the_url(draw: st.DrawFn, targets: list[Target]) -> Attack:
    """A path id, a query option's name or value, or a ``$skiptoken`` made of a JSON text with
    a lone surrogate escape (as ``encode_skiptoken`` would make it of such an id)."""
    target = draw(st.sampled_from([t for t in targets if "{id}" in t.urls[0] or t.query]))
    where = draw(st.sampled_from(["id", "kid", "option", "name", "skiptoken"]))
    bad = draw(TEXT) + draw(CESU_ESCAPED) + draw(TEXT)
    index = draw(st.integers(0, 7))
    url = target.url(index)
    if where in ("id", "kid") and "{" + where + "}" in target.urls[index % len(target.urls)]:
        url = target.url(index, **{"id_" if where == "id" else "kid": bad})
    elif where == "skiptoken" and "skiptoken" in target.query:
        after = draw(LONE_ESCAPES)
        token = skiptoken(after, draw(st.booleans()), draw(st.booleans()))
        url += "?" + draw(st.sampled_from(["$skiptoken", "skiptoken", "%24skiptoken"])) + "="
        url += token
    elif where in ("name", "skiptoken"):
        url += f"?{bad}=1"
    else:
        option = draw(st.sampled_from([*target.query, "$filter", "custom"] or ["custom"]))
        url += f"?{quote(option, safe='$')}={quote('id eq ', safe='')}'{bad}'"
    method = draw(st.sampled_from(target.methods))
    body = json.dumps(target.body).encode() if target.body is not None else None
    return Attack(method, url, body, token=target.token, refused=True)


@st.composite
def surrogate_in_a_header(draw: st.DrawFn, targets: list[Target]) -> Attack:
    target = draw(st.sampled_from(targets))
    name = draw(HEADER_NAMES)
    value = draw(TEXT).encode() + draw(CESU_BYTES) + draw(TEXT).encode()
    if name == "Authorization":
        value = b"Bearer " + value
    body = json.dumps(target.body).encode() if target.body is not None else None
    attack = Attack(draw(st.sampled_from(target.methods)), target.url(0), body)
    attack.headers[name] = value
    attack.token = target.token and name != "Authorization"
    if name == "client-request-id":
        attack.refused, attack.says = True, "client-request-id"
    return attack


@fuzz(1000)
@given(data=st.data())
def test_no_request_with_a_lone_surrogate_anywhere_gets_a_5xx_or_changes_the_store(
    served: Served, targets: list[Target], data: st.DataObject
) -> None:
    attack = data.draw(
        surrogate_in_a_body(targets)
        | surrogate_in_the_url(targets)
        | surrogate_in_a_header(targets)
    )
    run(served, attack)


def test_a_lone_surrogate_in_a_patch_member_name_is_refused_by_name(served: Served) -> None:
    for body, where in (
        (b'{"\\ud800": 1}', "'?'"),
        (b'{"keys": [{"kid": "x", "\\udc00": "y"}]}', "'keys[0].?'"),
        (b'{"keys": [{"kid": "x\\udfffy"}]}', "'keys[0].kid'"),
    ):
        attack = Attack("PATCH", f"{KEYSETS}/{SEEDED_ID}", body, refused=True, says=where)
        run(served, attack)


def test_a_skiptoken_of_a_json_text_with_a_lone_surrogate_is_refused(served: Served) -> None:
    for after in (b'"\\ud800"', b'"B2C_1A_\\udbff"'):
        for urlsafe in (True, False):
            target = f"{KEYSETS}?$skiptoken={skiptoken(after, urlsafe, False)}"
            run(served, Attack("GET", target, refused=True, says="$skiptoken is not valid"))


def test_a_state_document_with_a_lone_surrogate_is_refused_and_changes_nothing(
    served: Served,
) -> None:
    for fragment in (b'"B2C_1A_\\ud800"', b'"\\udc00"'):
        body = inject(SEED, ("keySets", 0, "keys", 0, "k"), "value", fragment)
        run(served, Attack("POST", "/_mockgraph/state", body, refused=True, says="surrogate"))
        body = inject(SEED, ("keySets", 1, "id"), "value", fragment)
        run(served, Attack("POST", "/_mockgraph/state", body, refused=True, says="surrogate"))


def test_a_state_file_with_a_lone_surrogate_stops_the_start_with_one_line(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(inject(SEED, ("keySets", 0, "id"), "value", b'"B2C_1A_\\ud800"'))
    started = subprocess.run(
        [sys.executable, "-m", "mockgraph", "serve", "--port", "0", "--state-file", str(state)],
        capture_output=True,
        timeout=60,
        env={"MOCKGRAPH_HOME": str(tmp_path / "home"), "PATH": ""},
    )
    error = started.stderr.decode("utf-8", "replace")
    assert started.returncode != 0
    assert "Traceback" not in error, error
    assert "surrogate" in error and str(state) in error, error
    assert state.read_bytes().count(b"\\ud800") == 1  # the file left as it was
