"""What one app holds, built by ``create_app`` and hung off it (``app.extensions["mockgraph"]``,
never a module global): config, contracts, clock, stores, and the parts with state of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask

from mockgraph.config import Config
from mockgraph.features.auth import Permissions, permission_table
from mockgraph.features.authority import Authority
from mockgraph.features.cors import OriginPolicy
from mockgraph.features.faults import Faults
from mockgraph.features.journal import Journal
from mockgraph.features.persistence import Persistence
from mockgraph.features.recording import Recorder
from mockgraph.features.requestlog import RequestLog
from mockgraph.features.statefile import Items, document, load_file
from mockgraph.features.tokens import GRAPH_AUDIENCES, read_claims
from mockgraph.http.contracts import Contracts
from mockgraph.http.intake import HostPolicy
from mockgraph.http.routing import Operation, Resource
from mockgraph.resources import RESOURCES
from mockgraph.resources.store import Clock, Store

EXTENSION = "mockgraph"


@dataclass
class MockGraph:
    """The per-app bundle; ``seed`` is what the stores hold at start and after a reset."""

    config: Config
    contracts: Contracts
    resources: tuple[Resource, ...]
    clock: Clock
    stores: dict[str, Store[Any]]
    operations: dict[str, Operation]
    permissions: dict[str, Permissions]
    claims: Callable[[str], dict[str, Any]]
    hosts: HostPolicy
    cors: OriginPolicy
    journal: Journal
    faults: Faults
    authority: Authority
    seed: Items = field(default_factory=dict)
    persistence: Persistence | None = None
    recorder: Recorder | None = None
    log: RequestLog | None = None

    @classmethod
    def build(cls, config: Config, contracts: Contracts) -> MockGraph:
        """Everything an app of ``config`` holds; :class:`StartupError` for a bad state file,
        fault rule, CORS origin or recording folder."""
        lock = threading.RLock()  # one lock for every store: a state file is one snapshot
        operations = {op.id: op for r in RESOURCES for op in r.operations}
        permissions = permission_table(operations.values(), contracts)
        roles = (r for p in permissions.values() for r in p.application)
        authority = Authority.from_config(config.apps, roles)
        key = authority.key.public_key() if config.verify_tokens else None
        mock = cls(
            config=config,
            contracts=contracts,
            resources=RESOURCES,
            clock=Clock(config.clock),
            stores={r.name: r.new_store(lock) for r in RESOURCES},
            operations=operations,
            permissions=permissions,
            claims=partial(read_claims, key=key, audience=GRAPH_AUDIENCES if key else None),
            hosts=HostPolicy(None if config.allow_remote else (config.host, *config.allowed_hosts)),
            cors=OriginPolicy.from_config(config.cors_origins),
            journal=Journal(config.journal_size, config.journal_bytes),
            faults=Faults.from_config(config.faults, operations),
            authority=authority,
            seed=load_file(config.state, RESOURCES) if config.state is not None else {},
            recorder=Recorder(Path(config.record_dir)) if config.record_dir is not None else None,
            log=RequestLog(config.log) if config.log is not None else None,
        )
        if config.state_file is not None:
            mock.persistence = Persistence(Path(config.state_file), RESOURCES, mock.stores)
            mock.persistence.start(mock.seed)
        else:
            mock.load(mock.seed)
        return mock

    @property
    def all_secrets(self) -> frozenset[str]:
        """Every operation's secret members: redacted where the operation is not known."""
        return frozenset(s for op in self.operations.values() for s in op.secrets)

    def load(self, items: Items) -> None:
        """Replace every store's items with ``items`` (by resource name)."""
        with next(iter(self.stores.values())).lock:
            for name, store in self.stores.items():
                store.load(items.get(name, ()))

    def reset(self) -> None:
        """Stores, clock, journal and fault counters as the app started; rules stay."""
        self.load(self.seed)
        self.clock.reset()
        self.journal.clear()
        self.faults.reset()

    def state_document(self) -> dict[str, Any]:
        """Every store's items as a state document, secrets included."""
        return document({name: list(store) for name, store in self.stores.items()}, self.resources)

    def close(self) -> None:
        """Write the request log's last lines; release the state file's lock."""
        if self.log is not None:
            self.log.flush()
        if self.persistence is not None:
            self.persistence.close()


def mockgraph(app: Flask) -> MockGraph:
    """The bundle of an app made by :func:`mockgraph.create_app`."""
    bundle: MockGraph = app.extensions[EXTENSION]
    return bundle
