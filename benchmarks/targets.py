"""One benchmark target in its own process, on the production server of ``mockgraph serve``
(stock granian, one worker process, the bridge; or Werkzeug's with ``--dev``), for
``benchmarks/run.py``: mockgraph as served, or a bare Flask handler with a dict store, seeded.

    python benchmarks/targets.py mockgraph --seed 100 --ready /tmp/url
    python benchmarks/targets.py bare --seed 100 --ready /tmp/url

Both apps go the way ``mockgraph serve``'s goes: a :class:`~mockgraph.serve.worker.Build`
(a factory of this module and its JSON arguments) that the worker process calls again, then
``worker.load`` puts it behind the bridge. Once the server answers, its root URL is written to
the ``--ready`` file (else to stderr), so that stderr can be the request log's alone.

Two switches change the worker, for the A/B figures of ``benchmarks/README.md`` only: the
factory replaces, in the worker, what the mock would use.

* ``--inline auto|never|always``: which requests the bridge answers on its event loop. ``auto``
  is ``worker.quick_requests`` (what is served); ``never`` sends every request to the thread
  pool (what ``quick_requests`` returning ``None`` does); ``always`` answers every request on
  the loop (the bare app's default, as its two routes never wait).
* ``--engine rs|reference``: ``rs`` is the mock as it is (jsonschema_rs gives the verdicts);
  ``reference`` gives every verdict with jsonschema alone.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import threading
from itertools import islice
from pathlib import Path
from typing import Any

from flask import Flask, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bodies import seed_bodies  # noqa: E402
from mockgraph.config import BASE_PATH, Config  # noqa: E402
from mockgraph.serve.production import Listen, serve  # noqa: E402
from mockgraph.serve.worker import Build  # noqa: E402

APPS = ("mockgraph", "bare")
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


def seeded_mock(config: Config, count: int, *, private: bool = False) -> Flask:
    """mockgraph of ``config`` holding ``count`` key sets, each loaded by the create's own
    schema from its own decoded JSON text (the objects a real create keeps)."""
    from mockgraph.app import create_app
    from mockgraph.http.parsing import load
    from mockgraph.state import mockgraph

    app = create_app(config)
    state = mockgraph(app)
    schema = state.operations["createKeySet"].body
    assert schema is not None
    items = [load(schema, body) for body in seed_bodies(count, private=private)]
    state.load({"keySets": items})
    state.seed = {}  # a reset empties the store, as in a served mock without --state
    return app


# -- the factories the worker calls (keyword arguments: plain JSON values) ---------------------


def mock(
    config: str,
    seed: int = 100,
    private: bool = False,
    inline: str = "auto",
    engine: str = "rs",
) -> Flask:
    """mockgraph of a :meth:`Config.to_json` text, seeded, with the switches of the module
    docstring applied to this process."""
    _switch_inline(inline)
    if engine == "reference":
        from mockgraph.http.contracts import Check

        def reference_verdict(self: Check, instance: Any) -> bool:
            return bool(self._reference.is_valid(instance))

        setattr(Check, "is_valid", reference_verdict)  # noqa: B010 - a benchmark's switch
    return seeded_mock(Config.from_json(config), seed, private=private)


def bare(seed: int = 100, private: bool = False, inline: str = "always") -> Flask:
    """The bare Flask app, seeded."""
    _switch_inline(inline)
    return bare_app(list(seed_bodies(seed, private=private)))


def _switch_inline(inline: str) -> None:
    from mockgraph.serve import worker

    if inline == "never":
        setattr(worker, "quick_requests", lambda app: None)  # noqa: B010
    elif inline == "always":
        setattr(worker, "quick_requests", lambda app: lambda environ: True)  # noqa: B010


# -- the command -------------------------------------------------------------------------------


def build_of(args: argparse.Namespace) -> Build:
    if args.app == "bare":
        kwargs: dict[str, Any] = {"seed": args.seed, "private": args.private}
        kwargs["inline"] = "always" if args.inline == "auto" else args.inline
        return Build("benchmarks.targets:bare", kwargs, args.threads)
    # As `mockgraph serve` builds its Config: from the environment, then its options.
    config = Config.from_env().replace(
        host="127.0.0.1", port=0, log=None if args.log == "none" else args.log
    )
    if args.no_validate:
        config = config.replace(validate_requests=False, validate_responses=False)
    kwargs = {"config": config.to_json(), "seed": args.seed, "private": args.private}
    kwargs |= {"inline": args.inline, "engine": args.engine}
    return Build("benchmarks.targets:mock", kwargs, args.threads, config.max_body_bytes)


def main(argv: list[str] | None = None) -> int:
    # A target that dies of a signal at exit leaves every thread's Python stack on stderr.
    faulthandler.enable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=APPS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8, help="the pool (serve's --threads)")
    parser.add_argument("--seed", type=int, default=100, help="key sets stored at start")
    parser.add_argument("--private", action="store_true", help="seed with private RSA members")
    parser.add_argument("--dev", action="store_true", help="Werkzeug's development server")
    parser.add_argument(
        "--log", choices=("text", "json", "none"), default="text", help="serve's --log-format"
    )
    parser.add_argument("--no-validate", action="store_true", help="validation off")
    parser.add_argument("--inline", choices=("auto", "never", "always"), default="auto")
    parser.add_argument("--engine", choices=("rs", "reference"), default="rs")
    parser.add_argument("--ready", type=Path, help="write the root URL here once it answers")
    args = parser.parse_args(argv)

    def announce(root: str, port: int) -> None:
        line = f"mockgraph serving {root}/beta\n"
        if args.ready is None:
            sys.stderr.write(line)
            sys.stderr.flush()
        else:
            args.ready.write_text(line)

    return serve(build_of(args), Listen("127.0.0.1", args.port), dev=args.dev, announce=announce)


if __name__ == "__main__":
    sys.exit(main())
