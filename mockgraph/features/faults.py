"""Injected throttling, outages and latency: the fault rules (``[every N | next N] TARGET ->
ACTION``, ACTION of ``429``/``503``, ``retry-after=SECONDS``, ``delay 200ms``; the README has
the grammar), their per-app counters, the request step that applies them, and the check that a
client honoured ``Retry-After``."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from flask import Request

from mockgraph.features.journal import Entry
from mockgraph.http.errors import (
    BadRequest,
    GraphError,
    ServiceUnavailable,
    StartupError,
    TooManyRequests,
)
from mockgraph.http.facts import BATCH_FACTS, DELAY_KEY, Facts

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: The per-request fault header; the mock's own, never forwarded by the proxy.
FAULT_HEADER = "X-MockGraph-Fault"
FAULT_ENVIRON = "HTTP_X_MOCKGRAPH_FAULT"  #: the header as a WSGI variable
#: The longest delay of one request, its batch items' included.
MAX_DELAY_MS = 60_000
_ERRORS: dict[int, tuple[type[GraphError], str]] = {
    # The message of concepts/throttling.md's sample answer.
    429: (TooManyRequests, "Please retry again later."),
    503: (ServiceUnavailable, "The service is temporarily unavailable. Please retry later."),
}
_STATUS = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() takes "²" and "٤"
_COUNT = re.compile(r"([0-9]{1,9})(?:st|nd|rd|th)?")
_SECONDS = re.compile(r"[0-9]{1,6}|none")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s)")
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
    """One parsed rule: it fires on every ``every``-th matching request, on the ``first`` N
    after start or reset, or (neither) on every one."""

    text: str
    target: str
    action: Action
    every: int | None = None
    first: int | None = None

    def matches(self, operation: str, method: str) -> bool:
        if self.target in ("reads", "writes"):
            return (method in ("GET", "HEAD")) == (self.target == "reads")
        return self.target in ("all", operation)

    def fires(self, count: int) -> bool:
        """Whether the ``count``-th matching request (1-based) is faulted."""
        if self.every is not None:
            return count % self.every == 0
        return self.first is None or count <= self.first


def parse_action(text: str) -> Action:
    """An ACTION (after ``->``, or the header's value); raises :class:`FaultRuleError`."""
    words = iter(w for w in re.split(r"[\s;,=:]+", text.strip().lower()) if w)
    status = retry_after = None
    retry_given, delay_ms, empty = False, 0.0, True
    for word in words:
        empty = False
        if _STATUS.fullmatch(word):
            if int(word) not in _ERRORS:
                raise FaultRuleError(f"status {word} cannot be injected; use 429 or 503")
            if status is not None:
                raise FaultRuleError("an action has at most one status")
            status = int(word)
        elif word == "retry-after":
            value = next(words, "")
            if not _SECONDS.fullmatch(value):
                raise FaultRuleError(
                    "retry-after takes whole seconds (RFC 9110), e.g. retry-after=2, or 'none'"
                )
            retry_after, retry_given = None if value == "none" else int(value), True
        elif word == "delay":
            found = _DURATION.fullmatch(next(words, ""))
            if found is None:
                raise FaultRuleError("delay takes a duration with its unit: 200ms or 1.5s")
            amount = float(found[1]) * (1 if found[2] == "ms" else 1000)
            delay_ms = min(delay_ms + amount, float(MAX_DELAY_MS))
        else:
            raise FaultRuleError(
                f"unknown word {word!r} in the action; expected 429, 503, "
                "retry-after=SECONDS or delay DURATION"
            )
    if empty:
        raise FaultRuleError("the action is empty; give 429, 503 or 'delay 200ms', or several")
    if retry_given and status is None:
        raise FaultRuleError("retry-after needs a status to go with (429 or 503)")
    if not retry_given:
        retry_after = None if status is None else 1
    return Action(status, retry_after, delay_ms)


def parse_rule(text: str, operations: Sequence[str]) -> Rule:
    """A rule ``SELECTOR -> ACTION``, operation ids matched against ``operations`` in any
    letter case. Raises :class:`FaultRuleError`."""
    selector, arrow, action = text.partition("->")
    if not arrow:
        raise FaultRuleError(f"a rule is 'SELECTOR -> ACTION', {_EXAMPLE}")
    words = selector.split()
    every = first = None
    if words and words[0].lower() in ("every", "next"):
        found = _COUNT.fullmatch(words[1] if len(words) > 1 else "")
        if found is None or int(found[1]) < 1:
            raise FaultRuleError(f"'{words[0].lower()}' takes a count of 1 or more, {_EXAMPLE}")
        count = int(found[1])
        every, first = (count, None) if words[0].lower() == "every" else (None, count)
        words = words[2:]
    if len(words) != 1:
        raise FaultRuleError(
            "the selector names one target (all, reads, writes or an operation id), " + _EXAMPLE
        )
    known = {name.lower(): name for name in ("all", "reads", "writes", *operations)}
    known |= {"read": "reads", "write": "writes"}
    target = known.get(words[0].lower())
    if target is None:
        names = ", ".join(["all", "reads", "writes", *sorted(operations)])
        raise FaultRuleError(f"unknown target {words[0]!r}; expected one of: {names}")
    return Rule(" ".join(text.split()), target, parse_action(action), every, first)


@dataclass
class Faults:
    """The rules of one app and their counters (thread-safe). ``sleep`` is how a delay waits
    where the server cannot hold an answer back; tests may replace it."""

    rules: Sequence[Rule] = ()
    sleep: Callable[[float], None] = time.sleep
    _counts: list[int] = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._counts = [0] * len(self.rules)

    @classmethod
    def from_config(cls, texts: Iterable[str], operations: Iterable[str]) -> Faults:
        """The rules of ``Config.faults``; a bad one raises :class:`StartupError`."""
        ops, rules = tuple(operations), []
        for text in texts:
            try:
                rules.append(parse_rule(text, ops))
            except FaultRuleError as exc:
                raise StartupError(f"bad fault rule {text!r}: {exc}") from None
        return cls(rules)

    def reset(self) -> None:
        """Start every rule's count again; the rules stay."""
        with self._lock:
            self._counts = [0] * len(self.rules)

    def decide(
        self, operation: str, method: str, extra: Action | None = None
    ) -> tuple[Action, str] | None:
        """Count one request against every rule; the action to inject (delays added up, the
        first status winning, ``extra``'s first) and the rules it came from, or ``None``."""
        fired = [] if extra is None else [(FAULT_HEADER, extra)]
        if self.rules:
            with self._lock:
                for index, rule in enumerate(self.rules):
                    if rule.matches(operation, method.upper()):
                        self._counts[index] += 1
                        if rule.fires(self._counts[index]):
                            fired.append((rule.text, rule.action))
        fired = [(s, a) for s, a in fired if a.status is not None or a.delay_ms > 0]
        if not fired:
            return None
        status = next((a for _, a in fired if a.status is not None), Action())
        delay = min(sum(a.delay_ms for _, a in fired), float(MAX_DELAY_MS))
        return Action(status.status, status.retry_after, delay), "; ".join(s for s, _ in fired)


def inject(mock: MockGraph, req: Request, known: Facts) -> None:
    """The request step: count the request against every rule, note its delay and raise the
    fault's error if one fires. A bad :data:`FAULT_HEADER` is a :class:`BadRequest`."""
    if req.method == "OPTIONS" or known.operation is None:
        return
    header = req.environ.get(FAULT_ENVIRON)
    try:
        extra = None if header is None else parse_action(header)
    except FaultRuleError as exc:
        raise BadRequest(f"The {FAULT_HEADER} header is invalid: {exc}.") from None
    decided = mock.faults.decide(known.operation.id, req.method, extra)
    if decided is None:
        return
    action, sources = decided
    known.fault = {**asdict(action), "rule": sources}
    # A batch item's delay holds back the batch's answer, where all of them add up.
    outer: Facts = req.environ.get(BATCH_FACTS, known)
    outer.delay = min(outer.delay + action.delay_ms / 1000, MAX_DELAY_MS / 1000)
    if action.status is not None:
        cls, message = _ERRORS[action.status]
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        raise cls(f"{message} (mockgraph fault: {sources})", headers=headers)


def hold_back(faults: Faults, req: Request, known: Facts) -> None:
    """The after step: hold the answer back by the request's injected delay, where the server
    can without a thread (:data:`DELAY_KEY`), else by ``faults.sleep``. A batch item's delay
    was added to the batch's."""
    if not known.delay or BATCH_FACTS in req.environ:
        return
    if req.environ.get(DELAY_KEY) == 0.0:
        req.environ[DELAY_KEY] = known.delay
    else:
        faults.sleep(known.delay)


@dataclass(frozen=True)
class RetryWait:
    """A faulted exchange that carried ``Retry-After``, the client's next identical request
    (same method and path) if any, and the seconds from the faulted answer to the retry."""

    fault: Entry
    retry: Entry | None
    retry_after: float
    waited: float | None
    respected: bool  #: no retry, or one ``retry_after`` seconds later (less the tolerance)


def waited_for_retry_after(entries: Iterable[Entry], *, tolerance: float = 0.0) -> list[RetryWait]:
    """For every journal entry answered with an injected fault that had ``Retry-After``, the
    retry that followed it and the wait; ``tolerance`` seconds are forgiven. Entries may come
    in any order."""
    ordered = sorted(entries, key=lambda e: e.seq)
    found = []
    for index, entry in enumerate(ordered):
        fault = entry.fault or {}
        if fault.get("status") is None or fault.get("retry_after") is None:
            continue
        same = (e for e in ordered[index + 1 :] if (e.method, e.path) == (entry.method, entry.path))
        retry = next(same, None)
        answered = entry.monotonic + entry.duration_ms / 1000
        waited = None if retry is None else retry.monotonic - answered
        wait = float(fault["retry_after"])
        respected = waited is None or waited + tolerance >= wait
        found.append(RetryWait(entry, retry, wait, waited, respected))
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
