"""Injected throttling, outages and latency, deterministic: the fault rule language, its
per-app counters, the request hook that applies them, and the check that a client honoured
``Retry-After``.

A rule is ``SELECTOR -> ACTION``::

    every 3rd write -> 429 retry-after=2     every 3rd, 6th, ... write
    next 2 generateKey -> 503                the next 2 generateKey requests, then never
    all -> delay 200ms                       every request, 200 ms later
    reads -> delay 50ms 503 retry-after=none

SELECTOR is ``[every N | next N] TARGET``; TARGET is ``all``, ``reads`` (GET), ``writes``
(any other method) or an operation id (``createKeySet``, ``generateKey``...). ACTION is one or
more of ``429`` or ``503``, ``retry-after=SECONDS`` (whole seconds, as RFC 9110's
``delay-seconds``; default 1; ``none`` sends no header) and ``delay DURATION`` (``200ms``,
``1.5s``). Parts of an action may be separated by
spaces, ``;`` or ``,``; ``=`` and ``:`` are optional, so ``Retry-After: 2`` reads too.

Rules come from ``Config.faults`` (``mockgraph serve --fault``); one request can carry its own
ACTION in the :data:`FAULT_HEADER` header. Only requests routed to a Graph operation that got
past authentication are counted and faulted; each matching rule counts every such request,
whether or not another rule's fault was the one answered. A failed request never reaches the
store. A delay holds the answer back, never a worker thread where the server can wait without
one (``mockgraph serve``); every request is delayed at most :data:`MAX_DELAY_MS` in all, the
items of a ``$batch`` adding theirs to the batch's.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import request

from mockgraph.features.journal import Entry
from mockgraph.http.errors import (
    BadRequest,
    GraphError,
    ServiceUnavailable,
    StartupError,
    TooManyRequests,
)
from mockgraph.http.facts import BATCH_FACTS, DELAY_KEY, Facts, facts

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: The per-request fault header. It is consumed by the mock: a proxy or recorder must drop it.
FAULT_HEADER = "X-MockGraph-Fault"
_FAULT_ENVIRON = "HTTP_" + FAULT_HEADER.upper().replace("-", "_")
#: The longest delay of one request (a batch's items included), so none can hold a client
#: forever.
MAX_DELAY_MS = 60_000
DEFAULT_RETRY_AFTER = 1
READ_METHODS = frozenset({"GET", "HEAD"})
_ERRORS: dict[int, tuple[type[GraphError], str]] = {
    # The message of concepts/throttling.md's sample answer.
    429: (TooManyRequests, "Please retry again later."),
    503: (ServiceUnavailable, "The service is temporarily unavailable. Please retry later."),
}
_STATUS = re.compile(r"^[0-9]{1,9}$")  # ASCII digits only: str.isdigit() takes "²" and "٤"
_COUNT = re.compile(r"^([0-9]{1,9})(?:st|nd|rd|th)?$")
_SECONDS = re.compile(r"^[0-9]{1,6}$")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s)$")
_EXAMPLE = "e.g. 'every 3rd write -> 429 retry-after=2'"


class FaultRuleError(ValueError):
    """A fault rule or header that does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class Action:
    """What a fault does: wait ``delay_ms``, then (if ``status``) answer it with
    ``Retry-After: retry_after`` (``None``: no header)."""

    status: int | None = None
    retry_after: int | None = None
    delay_ms: float = 0.0


@dataclass(frozen=True)
class Rule:
    """One parsed rule. ``every`` fires on every N-th matching request, ``first`` on the first
    N after start or reset; neither: on every matching request."""

    text: str
    target: str
    action: Action
    every: int | None = None
    first: int | None = None

    def matches(self, operation: str, method: str) -> bool:
        if self.target == "all":
            return True
        if self.target == "reads":
            return method in READ_METHODS
        if self.target == "writes":
            return method not in READ_METHODS
        return self.target == operation

    def fires(self, count: int) -> bool:
        """Whether the ``count``-th matching request (1-based) is faulted."""
        if self.every is not None:
            return count % self.every == 0
        if self.first is not None:
            return count <= self.first
        return True


@dataclass(frozen=True)
class Injection:
    """The faults applied to one request, and where they came from."""

    action: Action
    sources: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        """The journal's ``Entry.fault``: ``status``, ``retry_after``, ``rule``, ``delay_ms``."""
        return {
            "status": self.action.status,
            "retry_after": self.action.retry_after if self.action.status else None,
            "rule": "; ".join(self.sources),
            "delay_ms": self.action.delay_ms,
        }

    def error(self) -> GraphError | None:
        """The error to answer with, or ``None`` for latency alone."""
        if self.action.status is None:
            return None
        cls, message = _ERRORS[self.action.status]
        headers = {}
        if self.action.retry_after is not None:
            headers["Retry-After"] = str(self.action.retry_after)
        return cls(f"{message} (mockgraph fault: {'; '.join(self.sources)})", headers=headers)


def parse_action(text: str) -> Action:
    """An ACTION (the part after ``->``, or the header's value); raises :class:`FaultRuleError`."""
    words = [w for w in re.split(r"[\s;,=:]+", text.strip().lower()) if w]
    if not words:
        raise FaultRuleError(
            "the action is empty; give 429, 503 or 'delay 200ms', or several of them"
        )
    status: int | None = None
    retry_after: int | None = None
    retry_given = False
    delay_ms: float | None = None
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else None
        if _STATUS.match(word):
            if int(word) not in _ERRORS:
                raise FaultRuleError(f"status {word} cannot be injected; use 429 or 503")
            if status is not None:
                raise FaultRuleError("an action has at most one status")
            status = int(word)
            i += 1
        elif word == "retry-after":
            if value is None or (value != "none" and not _SECONDS.match(value)):
                raise FaultRuleError(
                    "retry-after takes whole seconds (RFC 9110), e.g. retry-after=2, or 'none'"
                )
            retry_after = None if value == "none" else int(value)
            retry_given = True
            i += 2
        elif word == "delay":
            found = _DURATION.match(value or "")
            if found is None:
                raise FaultRuleError("delay takes a duration with its unit: 200ms or 1.5s")
            amount = float(found.group(1)) * (1 if found.group(2) == "ms" else 1000)
            delay_ms = min((delay_ms or 0.0) + amount, float(MAX_DELAY_MS))
            i += 2
        else:
            raise FaultRuleError(
                f"unknown word {word!r} in the action; expected 429, 503, "
                "retry-after=SECONDS or delay DURATION"
            )
    if retry_given and status is None:
        raise FaultRuleError("retry-after needs a status to go with (429 or 503)")
    if status is not None and not retry_given:
        retry_after = DEFAULT_RETRY_AFTER
    return Action(status=status, retry_after=retry_after, delay_ms=delay_ms or 0.0)


def _target(word: str, operations: Iterable[str]) -> str:
    lowered = word.lower()
    if lowered in {"all", "reads", "writes"}:
        return lowered
    if lowered in {"read", "write"}:
        return lowered + "s"
    known = {op.lower(): op for op in operations}
    if lowered in known:
        return known[lowered]
    names = ", ".join(["all", "reads", "writes", *sorted(known.values())])
    raise FaultRuleError(f"unknown target {word!r}; expected one of: {names}")


def _count(word: str | None, keyword: str) -> int:
    found = _COUNT.match(word or "")
    if found is None or int(found.group(1)) < 1:
        raise FaultRuleError(f"'{keyword}' takes a count of 1 or more, {_EXAMPLE}")
    return int(found.group(1))


def parse_rule(text: str, operations: Iterable[str]) -> Rule:
    """A rule ``SELECTOR -> ACTION``; operation ids are matched against ``operations``
    case-insensitively. Raises :class:`FaultRuleError`."""
    selector, arrow, action_text = text.partition("->")
    if not arrow:
        raise FaultRuleError(f"a rule is 'SELECTOR -> ACTION', {_EXAMPLE}")
    words = selector.split()
    every = first = None
    if words and words[0].lower() in {"every", "next"}:
        keyword = words[0].lower()
        count = _count(words[1] if len(words) > 1 else None, keyword)
        every, first = (count, None) if keyword == "every" else (None, count)
        words = words[2:]
    if len(words) != 1:
        raise FaultRuleError(
            "the selector names one target (all, reads, writes or an operation id), " + _EXAMPLE
        )
    target = _target(words[0], operations)
    action = parse_action(action_text)
    normal = " ".join(text.split())
    return Rule(text=normal, target=target, action=action, every=every, first=first)


def _combine(actions: Sequence[Action]) -> Action:
    """Delays add up; the first action with a status decides the answer."""
    status = next((a for a in actions if a.status is not None), None)
    delay = min(sum(a.delay_ms for a in actions), float(MAX_DELAY_MS))
    if status is None:
        return Action(delay_ms=delay)
    return Action(status=status.status, retry_after=status.retry_after, delay_ms=delay)


class Faults:
    """The rules of one app and their counters (thread-safe). ``sleep`` is how a delay waits
    where the server cannot hold an answer back: tests may replace it to observe delays."""

    def __init__(self, rules: Iterable[Rule] = (), *, operations: Iterable[str] = ()) -> None:
        self.sleep: Callable[[float], None] = time.sleep
        self._lock = threading.Lock()
        self._rules: list[Rule] = list(rules)
        self._counts: list[int] = [0] * len(self._rules)
        self._operations = tuple(operations)

    @classmethod
    def from_config(cls, texts: Iterable[str], operations: Iterable[str]) -> Faults:
        """The rules of ``Config.faults``; a bad one raises :class:`StartupError`."""
        ops, rules = tuple(operations), []
        for text in texts:
            try:
                rules.append(parse_rule(text, ops))
            except FaultRuleError as exc:
                raise StartupError(f"bad fault rule {text!r}: {exc}") from None
        return cls(rules, operations=ops)

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def add(self, text: str) -> Rule:
        """Parse and append a rule (counting from zero); raises :class:`FaultRuleError`."""
        rule = parse_rule(text, self._operations)
        with self._lock:
            self._rules.append(rule)
            self._counts.append(0)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = []
            self._counts = []

    def reset(self) -> None:
        """Start every rule's count again (``every`` and ``next`` alike); the rules stay."""
        with self._lock:
            self._counts = [0] * len(self._rules)

    def decide(self, operation: str, method: str, extra: Action | None = None) -> Injection | None:
        """Count one request and say what to inject into it (``extra``: the header's action,
        whose status wins over the rules'). ``None`` when nothing applies."""
        if extra is None and not self._rules:
            return None  # the common case, without the lock
        fired: list[tuple[str, Action]] = []
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(operation, method.upper()):
                    self._counts[index] += 1
                    if rule.fires(self._counts[index]):
                        fired.append((rule.text, rule.action))
        if extra is not None:
            fired.insert(0, (FAULT_HEADER, extra))
        fired = [(s, a) for s, a in fired if a.status is not None or a.delay_ms > 0]
        if not fired:
            return None
        return Injection(_combine([a for _, a in fired]), tuple(s for s, _ in fired))


def inject(mock: MockGraph) -> None:
    """The request step: count the request against every rule, note its delay, and answer
    the fault's status if one fires. A bad :data:`FAULT_HEADER` is answered 400."""
    known = facts()
    operation = known.operation
    if request.method == "OPTIONS" or operation is None:
        return
    header = request.environ.get(_FAULT_ENVIRON)
    extra = None
    if header is not None:
        try:
            extra = parse_action(header)
        except FaultRuleError as exc:
            raise BadRequest(f"The {FAULT_HEADER} header is invalid: {exc}.") from None
    injection = mock.faults.decide(operation.id, request.method, extra)
    if injection is None:
        return
    known.fault = injection.record()
    # A batch item's delay holds back the batch's answer, where all of them add up.
    outer: Facts = request.environ.get(BATCH_FACTS, known)
    outer.delay = min(outer.delay + injection.action.delay_ms / 1000, MAX_DELAY_MS / 1000)
    error = injection.error()
    if error is not None:
        raise error


def hold_back(faults: Faults, known: Facts) -> None:
    """The after step: hold the answer back by the request's injected delay, where the server
    can without a thread (:data:`DELAY_KEY`), else by ``faults.sleep``. A batch item's delay
    was added to the batch's."""
    if not known.delay or BATCH_FACTS in request.environ:
        return
    if request.environ.get(DELAY_KEY) == 0.0:
        request.environ[DELAY_KEY] = known.delay
    else:
        faults.sleep(known.delay)


@dataclass(frozen=True)
class RetryWait:
    """A faulted exchange that carried ``Retry-After``, the client's next identical request
    (same method and path) if any, and how long the client waited in between: from the faulted
    answer (its arrival plus its duration) to the retry's arrival."""

    fault: Entry
    retry: Entry | None
    retry_after: float
    waited: float | None
    tolerance: float = 0.0

    @property
    def respected(self) -> bool:
        """No retry at all, or one at least ``retry_after`` (less ``tolerance``) seconds later."""
        return self.waited is None or self.waited + self.tolerance >= self.retry_after


def waited_for_retry_after(entries: Iterable[Entry], *, tolerance: float = 0.0) -> list[RetryWait]:
    """For every journal entry answered with an injected fault that had ``Retry-After``, the
    retry that followed it and the wait. ``tolerance`` seconds are forgiven (clock
    granularity); entries may come in any order (they are sorted by ``seq``)."""
    ordered = sorted(entries, key=lambda e: e.seq)
    found: list[RetryWait] = []
    for index, entry in enumerate(ordered):
        fault = entry.fault or {}
        if fault.get("status") is None or fault.get("retry_after") is None:
            continue
        retry = next(
            (
                later
                for later in ordered[index + 1 :]
                if later.method == entry.method and later.path == entry.path
            ),
            None,
        )
        answered = entry.monotonic + entry.duration_ms / 1000
        waited = None if retry is None else retry.monotonic - answered
        found.append(RetryWait(entry, retry, float(fault["retry_after"]), waited, tolerance))
    return found


def assert_retry_after_respected(entries: Iterable[Entry], *, tolerance: float = 0.0) -> None:
    """Raise ``AssertionError`` naming every retry sent before its ``Retry-After`` elapsed."""
    early = [w for w in waited_for_retry_after(entries, tolerance=tolerance) if not w.respected]
    if early:
        lines = [
            f"{w.fault.method} {w.fault.path}: retried after {w.waited:.3f}s, "
            f"Retry-After was {w.retry_after:g}s"
            for w in early
        ]
        raise AssertionError("client ignored Retry-After:\n" + "\n".join(lines))
