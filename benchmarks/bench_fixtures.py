"""What the live server and the pytest fixtures cost a test suite: starting a
:class:`~mockgraph.MockGraphServer` until its first answered request, and the per-test reset.

    python -m benchmarks.bench_fixtures [--starts 15] [--resets 2000]    (from the repo root)

Prints medians (and p90) over many runs, after the imports (which are timed once, apart):

* start, cold: ``MockGraphServer().start()`` + the first answered request, contracts compiled
  anew each time (what a script that starts one server pays);
* start, contracts compiled: the same with the contracts compiled already (what the pytest
  plugin's session server pays: its contracts fixture compiles them once for every app);
* start, app built: bind + thread + first answer only;
* the ``mockgraph_server`` fixture's per-test work: a reset after a test that created 10 key
  sets (10 journal entries), and swapping in an app of another (cached) config;
* building a new app from compiled contracts (the price of a config not seen before).

Figures only: nothing here asserts.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402 - timed: the imports are one of the figures
import http.client  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Callable  # noqa: E402

from mockgraph import Config, KeySet, MockGraphServer, create_app  # noqa: E402
from mockgraph.features.journal import Exchange  # noqa: E402
from mockgraph.http.contracts import Contracts  # noqa: E402

IMPORT_MS = (time.perf_counter() - _T0) * 1000


def first_answer(server: MockGraphServer) -> None:
    """One GET on a fresh connection, answered (the health check: no token, no store)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/_mockgraph/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        connection.close()


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(ordered):8.3f} ms   p90 {p90:8.3f} ms   (n={len(ms)})"


def timed(
    action: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
) -> list[float]:
    out = []
    for _ in range(runs):
        if setup is not None:
            setup()
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=15, help="server starts per figure")
    parser.add_argument("--resets", type=int, default=2000, help="resets per figure")
    args = parser.parse_args()

    print(f"imports (mockgraph, flask, jsonschema...): {IMPORT_MS:.0f} ms, once")

    def cold() -> None:
        server = MockGraphServer().start()
        first_answer(server)
        pending.append(server)

    pending: list[MockGraphServer] = []

    def stop_pending() -> None:
        while pending:
            pending.pop().stop()

    print("start until the first answered request:")
    print("  cold (contracts compiled too)   ", summary(timed(cold, args.starts, stop_pending)))
    stop_pending()

    contracts = Contracts.load()

    def warm() -> None:
        server = MockGraphServer(app=create_app(Config(), contracts=contracts)).start()
        first_answer(server)
        pending.append(server)

    print("  contracts compiled (the plugin) ", summary(timed(warm, args.starts, stop_pending)))
    stop_pending()

    app = create_app(Config(), contracts=contracts)

    def bind_only() -> None:
        server = MockGraphServer(app=app).start()
        first_answer(server)
        pending.append(server)

    print(
        "  app built (bind, thread, answer)",
        summary(timed(bind_only, args.starts * 4, stop_pending)),
    )
    stop_pending()

    stops: list[float] = []
    for _ in range(args.starts):
        server = MockGraphServer(app=app).start()
        first_answer(server)
        started = time.perf_counter()
        server.stop()
        stops.append((time.perf_counter() - started) * 1000)
    print("stop (shutdown, close, join)      ", summary(stops))

    with MockGraphServer(app=app) as server:
        journal = server.state.journal

        def used_by_a_test() -> None:
            server.store.load([KeySet(f"B2C_1A_{i}") for i in range(10)])
            for i in range(10):
                journal.record(_exchange(i))

        print(
            "per-test reset (10 key sets, 10 journal entries)",
            summary(timed(server.reset, args.resets, used_by_a_test)),
        )
        other = create_app(Config(require_auth=False), contracts=contracts)

        def swap() -> None:
            server.reconfigure(app=other if server.app is app else app)
            server.reset()

        print("per-test swap to a cached app + reset          ", summary(timed(swap, args.resets)))

    print(
        "new app from compiled contracts (a new config)  ",
        summary(timed(lambda: create_app(Config(clock=1.0), contracts=contracts), args.starts)),
    )


def _exchange(seq: int) -> Exchange:
    return Exchange(
        time=0.0,
        monotonic=0.0,
        elapsed=0.001,
        method="POST",
        path="/beta/x",
        query_string=b"",
        headers={"HTTP_AUTHORIZATION": "Bearer x"},
        data=b'{"id": "x%d"}' % seq,
        status=201,
        response_headers=(("Content-Type", "application/json"),),
        response_data=b'{"id": "x"}',
        operation="createKeySet",
        secrets=frozenset(),
        violations=(),
        fault=None,
    )


if __name__ == "__main__":
    main()
