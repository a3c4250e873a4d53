"""Resident memory of a mockgraph app holding many key sets (issue 6: 100,000 key sets with
one RSA key each in <= 200 MB RSS). Prints one JSON line.

    python benchmarks/memory.py --count 100000 [--private]

Each key set goes through what a create request does to keep the body (JSON decoded from its
own text, the create's marshmallow schema, ``Store.create``), so the stored objects are those
of real creates. Left out, as they keep nothing per key set: the contract check and the HTTP
layer (the journal is a bounded ring).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bodies import create_template, seed_id  # noqa: E402
from mockgraph.app import create_app  # noqa: E402
from mockgraph.config import Config  # noqa: E402
from mockgraph.http.parsing import load  # noqa: E402
from mockgraph.state import mockgraph  # noqa: E402


def rss_mb() -> float | None:
    """Current resident set size (Linux), else the peak (macOS, other Unix), else None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--private", action="store_true", help="store every private member too")
    args = parser.parse_args(argv)

    app = create_app(Config())
    state = mockgraph(app)
    store, schema = state.stores["keySets"], state.operations["createKeySet"].body
    assert schema is not None
    template = create_template(args.private)
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for index in range(args.count):
        body = json.loads(template.replace("__ID__", seed_id(index)))
        store.create(load(schema, body))
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    result = {
        "count": len(store),
        "private": args.private,
        "body_bytes": len(template) - len("__ID__") + len(seed_id(0)),
        "rss_before_mb": None if before is None else round(before, 1),
        "rss_after_mb": None if after is None else round(after, 1),
        "bytes_per_keyset": None
        if before is None or after is None
        else int((after - before) * 1024 * 1024 / max(args.count, 1)),
        "store_seconds": round(seconds, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
