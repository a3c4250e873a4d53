"""What ``--state-file`` costs a write: the full rewrite of the state file (serialise, write,
fsync, rename, fsync the folder) at 100 and 10,000 stored key sets, one RSA-2048 key each with
its private members (what a state file holds).

    python benchmarks/bench_persistence.py [--sizes 100 10000] [--writes 40] [--threads 8]
        [--dir DIR]

Prints, per store size: the file size; the median and p90 of one write through the app without
and with a state file (the difference is what durability costs a client); how that write splits
into serialising and the atomic file write; and, with ``--threads`` concurrent clients on a live
server, writes/s and how many file writes served them (one per write: each is on disk before
it takes effect).
Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from mockgraph import Config, create_app
from mockgraph.features.atomic import write_atomically
from mockgraph.features.persistence import Persistence
from mockgraph.features.statefile import Encoder
from mockgraph.http.contracts import Contracts
from mockgraph.resources import RESOURCES
from mockgraph.resources.keysets.keys import generate_rsa
from mockgraph.resources.keysets.models import KeySet
from mockgraph.state import mockgraph

TOKEN = "Bearer bench"
BASE = "/beta/trustFramework/keySets"


def timings(action: Callable[[int], object], runs: int) -> list[float]:
    out = []
    for i in range(runs):
        started = time.perf_counter()
        action(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):8.2f} ms   p90 {p90:8.2f} ms"


def seeded(size: int) -> list[KeySet]:
    key = generate_rsa("sig", 1700000000, 2000000000)
    return [KeySet(f"B2C_1A_bench{i:06d}", (key,)) for i in range(size)]


def one_size(size: int, writes: int, threads: int, folder: Path, contracts: Contracts) -> None:
    keysets = seeded(size)
    text = "".join(Encoder(RESOURCES).pieces({"keySets": keysets}))
    print(f"\n== {size:,} key sets: state file {len(text.encode()) / 1e6:.2f} MB")

    for label, state_file in (("no state file", None), ("--state-file", folder / f"{size}.json")):
        app = create_app(Config(state_file=state_file), contracts=contracts)
        mockgraph(app).stores["keySets"].load(keysets)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = TOKEN

        def create(i: int, c: FlaskClient = client) -> object:
            return c.post(BASE, json={"id": f"seq{i}"})

        ms = timings(create, writes)
        print(f"  one create, {label:<14} {summary(ms)}")

    warm = Encoder(RESOURCES)
    warm.pieces({"keySets": keysets})
    extra = KeySet("B2C_1A_zzz", keysets[0].keys)

    def one_changed(i: int) -> object:
        return warm.pieces({"keySets": [*keysets, extra] if i % 2 else keysets})

    print(f"  of which: encode, 1 changed  {summary(timings(one_changed, 20))}")
    first = timings(lambda i: Encoder(RESOURCES).pieces({"keySets": keysets}), 5)
    print(f"  (encode all: the first write) {summary(first)}")
    target = folder / f"{size}-raw.json"
    write_ms = timings(lambda i: write_atomically(target, text), 10)
    print(f"  of which: atomic write+fsync {summary(write_ms)}")

    app = create_app(Config(state_file=folder / f"{size}-live.json"), contracts=contracts)
    mockgraph(app).stores["keySets"].load(keysets)
    service = mockgraph(app).persistence
    assert isinstance(service, Persistence)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    per_thread = max(1, writes // threads)

    def client_loop(n: int) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = TOKEN
            for i in range(per_thread):
                http.post(f"http://127.0.0.1:{server.port}{BASE}", json={"id": f"c{n}_{i}"})

    before = service.writes
    started = time.perf_counter()
    clients = [threading.Thread(target=client_loop, args=(n,)) for n in range(threads)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    elapsed = time.perf_counter() - started
    server.shutdown()
    server.server_close()
    total = per_thread * threads
    print(
        f"  {threads} concurrent clients: {total / elapsed:7.1f} creates/s, "
        f"{total} creates in {service.writes - before} file writes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the figures
    contracts = Contracts.load()
    with tempfile.TemporaryDirectory(prefix="mockgraph-bench-", dir=args.dir) as tmp:
        print(f"state files in {tmp} (its file system decides the fsync cost)")
        for size in args.sizes:
            one_size(size, args.writes, args.threads, Path(tmp), contracts)


if __name__ == "__main__":
    main()
