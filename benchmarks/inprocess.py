"""The app's own cost per request, without any server: microseconds per get, create and page of
10, for mockgraph (full validation) and the bare Flask app of ``targets.py``, calling each
app's WSGI callable directly with prebuilt environs, in interleaved batches (min of the batches:
the least disturbed by other work on the machine).

    python benchmarks/inprocess.py [--batches 9]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import EnvironBuilder  # noqa: E402

from benchmarks.bodies import PLACEHOLDER, create_template, seed_bodies, seed_id  # noqa: E402
from benchmarks.targets import bare_app, mockgraph_app  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=9)
    args = parser.parse_args(argv)
    apps = {
        "bare": bare_app(list(seed_bodies(100))),
        "mockgraph": mockgraph_app(seed_bodies(100), validate=True),
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
    print("us per request (min of batches), no server")
    for scenario in ("get", "create", "list10"):
        bare, ours = best[("bare", scenario)], best[("mockgraph", scenario)]
        ratio = bare / ours
        print(f"  {scenario:<7} bare Flask {bare:6.0f}  mockgraph {ours:6.0f}  ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
