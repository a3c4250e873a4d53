"""What the production server's worker process serves: the app rebuilt from its description
(:class:`Build`), behind the bridge, with a pool of threads for the requests that may wait."""

from __future__ import annotations

import gc
import importlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from mockgraph.config import CONTROL_PATH, Config
from mockgraph.serve.bridge import Bridge, Environ, InlineRule
from mockgraph.state import mockgraph

#: Writes with a larger body go to a thread: parsing a valid 700 KB create takes ~0.1 s, and
#: explaining a bad one longer, while the loop would serve nobody.
QUICK_BODY_BYTES = 16 * 1024
#: Seconds a request body may take to arrive, in all.
BODY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Build:
    """How to build the served app in another process: a factory (``module:function``) and
    its keyword arguments, all plain JSON values, and the threads of the pool."""

    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    threads: int = 8
    max_body: int = Config.max_body_bytes

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def app(self) -> Flask:
        module, _, name = self.factory.partition(":")
        built: Flask = getattr(importlib.import_module(module), name)(**self.kwargs)
        return built


def mock(config: str) -> Flask:
    """The mock of a :meth:`Config.to_json` text."""
    from mockgraph.app import create_app

    return create_app(Config.from_json(config))


def proxy(
    upstream: str, out: str, timeout: float, allowed_hosts: list[str], contracts: str | None
) -> Flask:
    """The recording proxy of ``mockgraph record``."""
    from mockgraph.features.proxy import create_proxy
    from mockgraph.http.contracts import Contracts

    loaded = Contracts.load(Path(contracts)) if contracts else None
    return create_proxy(
        upstream, Path(out), contracts=loaded, timeout=timeout, allowed_hosts=allowed_hosts
    )


def load(description: str) -> Bridge:
    """granian's target loader, in the worker: the app of ``description`` (a :class:`Build`'s
    JSON) behind the bridge. What exists now lives as long as the server (contracts, routes,
    the key sets of a state file): frozen out of the cyclic garbage collector, so its full
    collections do not walk 100,000 stored key sets."""
    build = Build(**json.loads(description))
    app = build.app()
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()
    pool = ThreadPoolExecutor(max_workers=build.threads, thread_name_prefix="mockgraph")
    gc.collect()
    gc.freeze()
    state = app.extensions.get("mockgraph")
    return Bridge(
        app,
        pool,
        max_body=build.max_body,
        body_timeout=BODY_TIMEOUT,
        inline=quick_requests(app),
        on_shutdown=state.close if state is not None else None,
    )


def _end_with(parent: int) -> None:
    """End this worker once its server process is gone (killed with SIGKILL, say): an orphan
    would go on serving a stale store and holding the state file's lock."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def quick_requests(app: Flask) -> InlineRule | None:
    """The requests the bridge answers on its event loop; the others go to a thread, where
    waiting stalls no other client. ``None``: none of them (an app that is not the mock).

    On the loop a request costs no thread handoff (about twice the requests per second,
    ``benchmarks/README.md``), but while the app answers it the loop serves nobody else, so
    only requests that never wait go there: an operation that is not ``blocking`` in its
    resource's table, with a body of at most :data:`QUICK_BODY_BYTES`, in an app that neither
    records (a file per exchange) nor keeps a state file (an ``fsync`` per write). The control
    API and ``$batch`` go to a thread."""
    state = app.extensions.get("mockgraph")
    if state is None or mockgraph(app).recorder is not None:
        return None
    writes_wait = mockgraph(app).persistence is not None
    operations = mockgraph(app).operations
    adapter = app.url_map.bind("localhost")
    endpoints: dict[tuple[str, str], str | None] = {}  # clients repeat their URLs

    def endpoint_of(path: str, method: str) -> str | None:
        if (path, method) not in endpoints:
            if len(endpoints) >= 4096:
                endpoints.clear()
            try:
                endpoints[path, method] = str(adapter.match(path, method)[0])
            except Exception:  # not found, wrong method
                endpoints[path, method] = None
        return endpoints[path, method]

    def quick(environ: Environ) -> bool:
        path: str = environ["PATH_INFO"]
        endpoint = endpoint_of(path, environ["REQUEST_METHOD"])
        if endpoint is None:  # an error answer, quick to make
            return not path.startswith(CONTROL_PATH)
        operation = operations.get(endpoint)
        if operation is None or operation.blocking:
            return False
        if operation.reads:
            return True
        length: str = environ.get("CONTENT_LENGTH") or "0"
        big = not length.isdigit() or int(length) > QUICK_BODY_BYTES
        return not writes_wait and not big

    return quick
