"""Running an app on a real socket from the command line (``mockgraph serve``)."""

from __future__ import annotations

import ipaddress
import logging
import sys

from flask import Flask
from werkzeug.serving import make_server

from .config import Config

log = logging.getLogger("mockgraph")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(app: Flask, config: Config, *, dev: bool = False, threads: int = 8) -> int:
    """Serve ``app`` until SIGINT/SIGTERM; returns the exit status."""
    host, port = config.host, config.port
    server = make_server(host, port, app, threaded=True)
    print(f"mockgraph serving http://{host}:{server.port}/beta  (Ctrl+C to stop)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
