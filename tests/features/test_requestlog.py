"""The request log, in-process: one line per exchange with time, method, path (secret query
values redacted), status, duration, operation and, for an error, Graph's code and the first line
of its message; JSON a line with ``json``; never a token or a body."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from flask.testing import FlaskClient

from mockgraph import Config, create_app
from mockgraph.features.requestlog import RequestLog
from mockgraph.http.facts import Facts
from mockgraph.state import mockgraph

KEYSETS = "/beta/trustFramework/keySets"
TEXT = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (\S+) (\S+) (\d{3}) [\d.]+ms (\S+)(?: (.*))?$")


def logged(form: str) -> tuple[FlaskClient, io.StringIO]:
    app = create_app(Config(log=form))
    stream = io.StringIO()
    mockgraph(app).log = RequestLog(form, stream, every=0)  # each line at once
    return app.test_client(), stream


def test_by_default_lines_are_written_together_in_order_shortly_after() -> None:
    app = create_app(Config(log="text"))
    stream = io.StringIO()
    mockgraph(app).log = RequestLog("text", stream)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer x"
    for name in ("first", "second", "third"):
        client.get(f"{KEYSETS}/B2C_1A_{name}")
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    paths = [TEXT.match(line)[2] for line in stream.getvalue().splitlines()]  # type: ignore[index]
    assert paths == [f"{KEYSETS}/B2C_1A_{n}" for n in ("first", "second", "third")]


def test_a_text_line_per_exchange_with_the_error_code_and_message_of_a_refusal() -> None:
    client, stream = logged("text")
    client.post(KEYSETS, json={"id": "a"}, headers={"Authorization": "Bearer tok3n"})
    client.get(KEYSETS + "/B2C_1A_nope", headers={"Authorization": "Bearer tok3n"})
    first, second = (TEXT.match(line) for line in stream.getvalue().splitlines())
    assert first is not None and second is not None
    assert first.groups() == ("POST", KEYSETS, "201", "createKeySet", None)
    assert second.groups()[:4] == ("GET", KEYSETS + "/B2C_1A_nope", "404", "getKeySet")
    assert second.group(5) == "itemNotFound: Key set 'B2C_1A_nope' was not found."
    assert "tok3n" not in stream.getvalue()


def test_secret_query_values_are_redacted_and_bodies_never_written() -> None:
    client, stream = logged("text")
    client.post(
        KEYSETS + "?access_token=S3CRET&$top=1",
        json={"id": "a", "keys": [{"k": "K3Y"}]},
        headers={"Authorization": "Bearer x"},
    )
    line = stream.getvalue()
    assert "access_token=<redacted>" in line and "$top=1" in line
    assert "S3CRET" not in line and "K3Y" not in line


def test_only_the_first_line_of_a_message_is_written() -> None:
    client, stream = logged("text")
    client.post(
        KEYSETS, data="{bad", content_type="application/json", headers={"Authorization": "Bearer x"}
    )
    (line,) = stream.getvalue().splitlines()
    assert " 400 " in line and "invalidRequest: The request body is not valid JSON" in line


def test_json_lines_carry_the_same_facts() -> None:
    client, stream = logged("json")
    client.get(KEYSETS, headers={"Authorization": "Bearer x"})
    client.get(KEYSETS)
    ok, refused = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (ok["method"], ok["path"], ok["status"], ok["operation"]) == (
        "GET",
        KEYSETS,
        200,
        "listKeySets",
    )
    assert ok["time"].endswith("Z") and ok["duration_ms"] >= 0 and "error" not in ok
    assert refused["error"] == {
        "code": "InvalidAuthenticationToken",
        "message": "Access token is empty.",
    }


def test_no_log_unless_configured_and_a_failing_stream_never_fails_a_request() -> None:
    app = create_app(Config())
    assert mockgraph(app).log is None
    client, stream = logged("text")
    stream.close()  # writing now raises ValueError
    assert client.get(KEYSETS, headers={"Authorization": "Bearer x"}).status_code == 200


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        RequestLog("xml")


@pytest.mark.parametrize("form", ["text", "json"])
def test_each_line_carries_the_time_its_request_arrived(form: str) -> None:
    log = RequestLog(form, io.StringIO(), every=0)
    app = create_app(Config())
    arrivals = [1_700_000_000.25, 1_700_000_000.75, 1_700_000_001.5, 1_700_003_600.0]
    with app.test_request_context(KEYSETS):
        from flask import request

        lines = []
        for arrived in arrivals:
            facts = Facts(time.perf_counter(), arrived, "id", "id")
            lines.append(log.line(request, facts, app.response_class(b"{}", 200)))
    if form == "json":
        stamps = [json.loads(line)["time"] for line in lines]
        expected = [
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(a)))
            + f".{int(a * 1000) % 1000:03d}Z"
            for a in arrivals
        ]
    else:
        stamps = [line.split(" ", 1)[0] for line in lines]
        expected = [
            time.strftime("%H:%M:%S", time.localtime(int(a))) + f".{int(a * 1000) % 1000:03d}"
            for a in arrivals
        ]
    assert stamps == expected
