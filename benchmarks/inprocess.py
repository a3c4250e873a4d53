"""The app's own cost per request, without any server, and what single pieces of it cost.

    python benchmarks/inprocess.py [--batches 9]

1. Microseconds per get, create and page of 10 for mockgraph as served (request log off) and
   the bare Flask app of ``targets.py``, calling each app's WSGI callable directly with
   prebuilt environs, in interleaved batches.
2. Pieces of a request, each timed alone: the verdict on a create body and on a page of 100
   (jsonschema_rs, as served, against jsonschema alone) and a request log line (text, json;
   written to /dev/null).

Every figure is the minimum over the batches: the run least disturbed by other work on the
machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import request  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from benchmarks.bodies import PLACEHOLDER, create_template, seed_bodies, seed_id  # noqa: E402
from benchmarks.targets import bare_app, seeded_mock  # noqa: E402
from mockgraph.config import Config  # noqa: E402
from mockgraph.features.requestlog import RequestLog  # noqa: E402
from mockgraph.http.contracts import Contracts  # noqa: E402

COLLECTION = "/beta/trustFramework/keySets"
HEADERS = {"Authorization": "Bearer benchmark-token", "Host": "127.0.0.1:8000"}


def environ(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    headers = {**HEADERS, "Content-Type": "application/json"} if body else HEADERS
    builder = EnvironBuilder(path=path, method=method, data=body, headers=list(headers.items()))
    return builder.get_environ()


def per_request_us(app: Callable[..., Any], environs: list[dict[str, Any]]) -> float:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    gc.collect()
    started = time.perf_counter()
    for one in environs:
        b"".join(app(one, start_response))
    return (time.perf_counter() - started) / len(environs) * 1e6


def per_call_us(action: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - started) / calls * 1e6


def pieces(batches: int) -> dict[str, float]:
    """Microseconds per call of each piece (min of the batches)."""
    contracts = Contracts.load()
    create, listing = contracts["createKeySet"], contracts["listKeySets"]
    assert create.request is not None and listing.response is not None
    body = json.loads(create_template().replace(PLACEHOLDER, "B2C_1A_piece"))
    page = {
        "@odata.context": "http://127.0.0.1:8000/beta/$metadata#trustFramework/keySets",
        "value": [{"id": item["id"], "keys": item["keys"]} for item in seed_bodies(100)],
    }
    assert create.request.is_valid(body) and listing.response.is_valid(page)
    reference_create = create.request._reference
    reference_list = listing.response._reference
    app = seeded_mock(Config(), 1)
    logs = {form: RequestLog(form, open(os.devnull, "w")) for form in ("text", "json")}  # noqa: SIM115
    client_environ = environ("GET", f"{COLLECTION}/{seed_id(0)}")

    from mockgraph.http.facts import Facts

    facts = Facts(time.perf_counter(), time.time(), str(uuid.uuid4()), "x")
    response = app.response_class(b"{}", 200)

    def log_line(form: str) -> Callable[[], object]:
        return lambda: logs[form].write(request, facts, response)

    def context_alone() -> None:
        with app.request_context(client_environ):
            pass

    calls: dict[str, tuple[Callable[[], object], int]] = {
        "create body: jsonschema_rs verdict": (lambda: create.request.is_valid(body), 2000),  # type: ignore[union-attr]
        "create body: jsonschema verdict": (lambda: reference_create.is_valid(body), 300),
        "page of 100: jsonschema_rs verdict": (lambda: listing.response.is_valid(page), 300),  # type: ignore[union-attr]
        "page of 100: jsonschema verdict": (lambda: reference_list.is_valid(page), 10),
        "log line, text, to /dev/null": (log_line("text"), 3000),
        "log line, json, to /dev/null": (log_line("json"), 3000),
        "a request context alone": (context_alone, 3000),
    }
    best: dict[str, float] = {}
    with app.request_context(client_environ):  # what a log line reads (request.path...)
        for _ in range(batches):
            for name, (action, count) in calls.items():
                figure = per_call_us(action, count)
                best[name] = min(best.get(name, figure), figure)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=9)
    args = parser.parse_args(argv)
    apps = {
        "bare": bare_app(list(seed_bodies(100))),
        "mockgraph": seeded_mock(Config(), 100),
    }
    template = create_template()
    item = f"{COLLECTION}/{seed_id(1)}"
    best: dict[tuple[str, str], float] = {}
    for batch in range(args.batches):
        for name, app in apps.items():
            runs = {
                "get": [environ("GET", item) for _ in range(300)],
                "create": [
                    environ("POST", COLLECTION, template.replace(PLACEHOLDER, f"x{batch}_{i}"))
                    for i in range(300)
                ],
                "list10": [environ("GET", COLLECTION + "?$top=10") for _ in range(150)],
            }
            for scenario, environs in runs.items():
                figure = per_request_us(app, environs)
                key = (name, scenario)
                best[key] = min(best.get(key, figure), figure)
    print("us per request (min of batches), no server, request log off")
    for scenario in ("get", "create", "list10"):
        bare, ours = best[("bare", scenario)], best[("mockgraph", scenario)]
        ratio = bare / ours
        print(f"  {scenario:<7} bare Flask {bare:6.0f}  mockgraph {ours:6.0f}  ratio {ratio:.2f}")
    print("us per call of one piece (min of batches)")
    for name, figure in pieces(args.batches).items():
        print(f"  {name:<44} {figure:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
