"""The one configuration object, and the only place environment variables are read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

#: Graph's beta base path; the docs' URLs are ``https://graph.microsoft.com/beta/...``.
BASE_PATH = "/beta"
#: Where the control API lives: never under the Graph base path.
CONTROL_PATH = "/_mockgraph"


@dataclass(frozen=True)
class Config:
    """Everything a mockgraph app is built from; immutable (derive one with :meth:`replace`).
    ``mockgraph serve`` builds one from its options on top of :meth:`from_env`."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Serve a non-loopback ``host`` and answer any ``Host`` header (``--allow-remote``).
    allow_remote: bool = False
    #: ``Host`` names answered besides loopback ones and ``host`` (others: DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    #: Largest request body accepted; larger ones get 413.
    max_body_bytes: int = 1024 * 1024
    #: Check request bodies against the contracts (off only for benchmarks).
    validate_requests: bool = True
    #: Check the mock's own answers against the contracts and journal any violation.
    validate_responses: bool = True
    #: Require ``Authorization: Bearer ...`` (Graph answers 401 without it).
    require_auth: bool = True
    #: Check ``scp``/``roles`` of JWT bearer tokens against the doc pages' permission tables.
    check_permissions: bool = True
    #: Reject opaque (non-JWT) bearer tokens with 401.
    require_jwt: bool = False
    #: Check a JWT's RS256 signature (by the mock's authority), audience and lifetime.
    verify_tokens: bool = False
    #: The offline authority's apps, ``CLIENT_ID:SECRET=ROLE[,ROLE...]``; none: any, every role.
    apps: tuple[str, ...] = ()
    #: Serve HTTPS: with the mock's own CA-signed certificate, or ``cert``/``key`` (PEM files).
    tls: bool = False
    cert: Path | None = None
    key: Path | None = None
    #: The request log on stderr (``mockgraph serve``): ``text``, ``json`` or ``None`` (none).
    log: str | None = None
    #: Page size of the list when ``$top`` is absent, and the largest ``$top`` accepted.
    default_page_size: int = 100
    max_page_size: int = 999
    #: How many exchanges, and how many body bytes, the journal keeps (the oldest leave first).
    journal_size: int = 1000
    journal_bytes: int = 8 * 1024 * 1024
    #: Origins allowed by CORS: ``None`` means any ``http(s)://localhost|127.0.0.1|[::1]`` origin.
    cors_origins: tuple[str, ...] | None = None
    #: A fixed "now" (seconds since the epoch) for key validity windows; ``None`` = wall clock.
    clock: float | None = None
    #: Fault rules (see ``mockgraph.faults``), e.g. ``("every 3rd write -> 429 retry-after=2",)``.
    faults: tuple[str, ...] = ()
    #: Directory that ``--record`` writes exchanges to.
    record_dir: Path | None = None
    #: JSON file of key sets loaded at start (``--state``).
    state: Path | None = None
    #: JSON file kept current after every write (``--state-file``).
    state_file: Path | None = None

    def to_json(self) -> str:
        """Every field as JSON (for a server's worker process), as :meth:`from_json` reads it."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in values.items()})

    @classmethod
    def from_json(cls, text: str) -> Config:
        """The Config of :meth:`to_json`'s text."""
        raw = json.loads(text)
        for f in fields(cls):
            if isinstance(raw.get(f.name), list):
                raw[f.name] = tuple(raw[f.name])
            elif raw.get(f.name) is not None and str(f.type).startswith("Path"):
                raw[f.name] = Path(raw[f.name])
        return cls(**raw)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied; unknown names raise ``TypeError``."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Defaults overridden by ``MOCKGRAPH_<FIELD>`` variables: booleans 1/0, true/false,
        yes/no, on/off; tuples separated by ``;``; an empty number or path is ``None``."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"MOCKGRAPH_{f.name.upper()}")
            kind = str(f.type).split("[")[0].split(" ")[0]
            if raw is None:
                continue
            if kind == "bool" and raw.strip().lower() not in _BOOLEANS:
                raise ValueError(f"MOCKGRAPH_{f.name.upper()} must be a boolean, not {raw!r}")
            changes[f.name] = _FROM_TEXT.get(kind, str)(raw)
        return cls(**changes)


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLEANS |= {"0": False, "false": False, "no": False, "off": False}
_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "bool": lambda raw: _BOOLEANS[raw.strip().lower()],
    "int": int,
    "float": lambda raw: float(raw) if raw.strip() else None,
    "Path": lambda raw: Path(raw) if raw else None,
    "tuple": lambda raw: tuple(part.strip() for part in raw.split(";") if part.strip()),
}
