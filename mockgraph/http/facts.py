"""What the app knows of the request being answered: one typed :class:`Facts` object, made by
the first request step and read by every later one (``g.facts``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context

if TYPE_CHECKING:
    from mockgraph.http.routing import Operation


#: The environ key of a ``$batch`` item's request: the batch's own facts (its items' injected
#: delays add up there).
BATCH_FACTS = "mockgraph.batch"
#: The environ key of a server that can hold an answer back without holding a thread: it sets
#: it to ``0.0``, and the app writes there the seconds to wait instead of sleeping.
DELAY_KEY = "mockgraph.delay"
#: The environ key of a server that could not read the request's body: ``timeout`` (it came
#: too slowly) or ``framing`` (broken chunked encoding). The app answers 408 or 400.
BODY_PROBLEM = "mockgraph.body_problem"


@dataclass(slots=True)
class Facts:
    """One request's facts. ``operation`` is ``None`` outside the resources' tables (the
    control API, ``$batch``, an unknown path)."""

    started: float  #: ``time.perf_counter()`` at arrival
    arrived: float  #: wall clock at arrival (seconds since the epoch)
    request_id: str
    client_request_id: str
    operation: Operation | None = None
    #: The value a JSON answer was rendered from: checked against the contract, kept by the
    #: recorder, never decoded again.
    answer: Any = None
    #: Where the answer breaks its own contract (a bug of the mock, journalled and logged).
    violations: tuple[str, ...] = ()
    #: The fault injected into this request (see ``features.faults``), as the journal shows it.
    fault: dict[str, Any] | None = None
    #: Seconds the answer is held back by injected latency (a batch's items add theirs up).
    delay: float = 0.0


def new_request_id() -> str:
    """A fresh request id, as Graph gives one: a version-4 UUID."""
    return str(uuid.uuid4())


def facts() -> Facts:
    """The facts of the request being answered (the first request step made them)."""
    found: Facts = g.facts
    return found


def facts_or_none() -> Facts | None:
    """:func:`facts`, or ``None`` outside a request or before the first step ran."""
    if not has_request_context():
        return None
    found: Facts | None = g.get("facts")
    return found
