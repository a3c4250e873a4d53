"""One benchmark target in its own process: an app (mockgraph as served, mockgraph with
validation off, or a bare Flask handler with a dict store) on a server, seeded, for
``benchmarks/run.py``. Prints the serving line (with the URL) on stderr, as ``mockgraph serve``.

    python benchmarks/targets.py mockgraph granian --port 0 --seed 100
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from flask import Flask, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bodies import seed_bodies  # noqa: E402
from mockgraph.app import create_app  # noqa: E402
from mockgraph.config import BASE_PATH, Config  # noqa: E402
from mockgraph.http import parsing  # noqa: E402
from mockgraph.resources.keysets.models import KeySet  # noqa: E402
from mockgraph.serve.production import quick_requests, run  # noqa: E402
from mockgraph.state import mockgraph  # noqa: E402

APPS = ("mockgraph", "novalidate", "bare")
SERVERS = ("granian", "waitress", "gunicorn", "werkzeug")
COLLECTION = BASE_PATH + "/trustFramework/keySets"


def bare_app(seed: list[dict[str, Any]]) -> Flask:
    """The ceiling of a Flask app: a dict store, no validation, no auth, no journal."""
    app = Flask("bare")
    store: dict[str, Any] = {item["id"]: item for item in seed}
    lock = threading.Lock()

    @app.post(COLLECTION)
    def create() -> tuple[Any, int]:
        body = request.get_json()
        with lock:
            store[body["id"]] = body
        return body, 201

    @app.get(COLLECTION + "/<keyset_id>")
    def get(keyset_id: str) -> Any:
        item = store.get(keyset_id)
        if item is None:
            return {"error": {"code": "itemNotFound", "message": "not found"}}, 404
        return item

    @app.get(COLLECTION)
    def list_() -> Any:
        top = int(request.args.get("$top", 100))
        with lock:
            page = list(islice(store.values(), top))
        return {"value": page}

    return app


def mockgraph_app(seed: Iterator[dict[str, Any]], *, validate: bool) -> Flask:
    """mockgraph as ``mockgraph serve`` builds it (``Config.from_env()``), seeded through the
    same parsing a create request goes through, so the stored objects are those of real
    creates."""
    config = Config.from_env()
    if not validate:
        config = config.replace(validate_requests=False, validate_responses=False)
    app = create_app(config)
    keysets: list[KeySet] = [parsing.load("createKeySet", body) for body in seed]
    mockgraph(app).store.load(keysets)
    return app


def serve_gunicorn(app: Flask, port: int, threads: int, say: Callable[[str], None]) -> int:
    """gunicorn, one gthread worker (a benchmark candidate only: it does not run on Windows)."""
    from gunicorn.app.base import BaseApplication

    class One(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads,
                "keepalive": 5,
                "loglevel": "warning",
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    pool = f"1 process, {threads} threads"
    say(f"mockgraph serving http://127.0.0.1:{port}/beta with gunicorn ({pool})")
    One().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    # A target that dies of a signal at exit (a SIGABRT was seen a few times under heavy
    # machine load) leaves every thread's Python stack on stderr.
    faulthandler.enable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=APPS)
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=100, help="key sets stored at start")
    parser.add_argument("--private", action="store_true", help="seed with private RSA members")
    args = parser.parse_args(argv)

    if args.app == "bare":
        app = bare_app(list(seed_bodies(args.seed, private=args.private)))
    else:
        app = mockgraph_app(
            seed_bodies(args.seed, private=args.private), validate=args.app == "mockgraph"
        )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.server == "gunicorn":
        import socket

        if args.port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                args.port = probe.getsockname()[1]
        return serve_gunicorn(app, args.port, args.threads, say)
    config = Config(host="127.0.0.1", port=args.port)
    return run(
        app,
        config,
        dev=args.server == "werkzeug",
        threads=args.threads,
        server="auto" if args.server == "werkzeug" else args.server,
        announce=say,
        # As `mockgraph serve`; the bare app's routes are read and create, quick ones too.
        inline=quick_requests(config),
    )


if __name__ == "__main__":
    sys.exit(main())
