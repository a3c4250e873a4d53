"""What the app knows of the request being answered: one typed :class:`Facts`, made by the first
request step, kept in the request's environ (:data:`FACTS_KEY`) and read by every later one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import has_request_context, request

if TYPE_CHECKING:
    from mockgraph.http.routing import Operation

#: The environ key of a request's own facts.
FACTS_KEY = "mockgraph.facts"
#: The environ key of a ``$batch`` item's request: the batch's own facts (delays add up there).
BATCH_FACTS = "mockgraph.batch"
#: The environ key of a server that holds an answer back without a thread: it sets ``0.0``,
#: the app writes there the seconds to wait instead of sleeping.
DELAY_KEY = "mockgraph.delay"
#: The environ key of a server that could not read the body: ``timeout`` (408), ``incomplete``
#: or ``framing`` (400).
BODY_PROBLEM = "mockgraph.body_problem"


@dataclass(slots=True)
class Facts:
    """One request's facts; ``operation`` is ``None`` outside the resources' tables."""

    started: float  #: ``time.perf_counter()`` at arrival
    arrived: float  #: wall clock at arrival
    request_id: str
    client_request_id: str
    operation: Operation | None = None
    #: The value a JSON answer was rendered from (checked, recorded, never decoded again), taken
    #: from the answer (:attr:`~mockgraph.http.rendering.GraphResponse.answer`) when it leaves.
    answer: Any = None
    #: Where the answer breaks its own contract (a bug of the mock).
    violations: tuple[str, ...] = ()
    #: The fault injected into this request, as the journal shows it.
    fault: dict[str, Any] | None = None
    #: Seconds the answer is held back by injected latency.
    delay: float = 0.0


def new_request_id() -> str:
    """A fresh request id, as Graph gives one: a version-4 UUID string."""
    return str(uuid.uuid4())


def facts() -> Facts:
    """The facts of the request being answered."""
    found: Facts = request.environ[FACTS_KEY]
    return found


def facts_or_none() -> Facts | None:
    """:func:`facts`, or ``None`` outside a request or before the first step ran."""
    found: Facts | None = request.environ.get(FACTS_KEY) if has_request_context() else None
    return found
