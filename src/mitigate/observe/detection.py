"""Detection rules evaluated in process over the event stream, on the clock.

A :class:`Detector` is an observer: attach it to pipelines and it keeps, per rule, a
windowed count of matching events (``count``, ``rate``, ``ratio``), the last value of a
gauge (``gauge``) or the time since the last matching event (``age``). When a rule's
condition holds (for ``sustained`` seconds, if given) it emits one :class:`AlertRaised`;
the rule fires again only after its condition has cleared. Time-driven rules (``age``,
``sustained``, and counts that drop as the window slides) are checked by
:meth:`Detector.evaluate`, which :meth:`Detector.run` calls on an interval.

>>> from mitigate.clock import VirtualClock
>>> from mitigate.observe.events import AttemptFailed
>>> from mitigate.observe.observers import Recorder
>>> clock, alerts = VirtualClock(), Recorder()
>>> rule = Rule("kms.failing", kind="count", event="attempt.failed", op=">", threshold=2,
...             window=30.0, target="kms.sign")
>>> detector = Detector([rule], clock=clock, observers=[alerts])
>>> for _ in range(3):
...     detector(AttemptFailed(target="kms.sign", at=clock.now(), attempt=1))
>>> alerts.values("alert.raised", "rule"), alerts.values("alert.raised", "value")
(['kms.failing'], [3.0])

.. versionadded:: 0.1
"""

from __future__ import annotations

import fnmatch
import operator
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.observe.events import (
    AlertRaised,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    BreakerClosed,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExhausted,
    BulkheadFull,
    Event,
    FallbackUsed,
    FaultInjected,
    LimitHit,
    RetryExhausted,
    RetryScheduled,
    Severity,
)
from mitigate.observe.observers import Observer, Observers

__all__ = ["PIPELINE_EVENTS", "Detector", "Rule"]

RuleKind = Literal["count", "rate", "ratio", "gauge", "age"]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# What a pipeline can emit: a rule over other events (a service's own) never needs a
# pipeline to report to the detector.
PIPELINE_EVENTS: tuple[str, ...] = tuple(
    cls.name
    for cls in (
        AttemptStarted, AttemptSucceeded, AttemptFailed, AttemptTimedOut, RetryScheduled,
        RetryExhausted, BudgetExhausted, BreakerStateChanged, BreakerOpened, BreakerHalfOpened,
        BreakerClosed, BreakerRejected, FallbackUsed, BulkheadFull, LimitHit, FaultInjected,
    )
)  # fmt: skip
# Events closer together than window / _RESOLUTION share one counter slot, so memory
# per rule is bounded however many events arrive (error at most 0.1 % of the window).
_RESOLUTION = 1024


@dataclass(frozen=True, slots=True)
class Rule:
    """One evaluable detection rule (durations in seconds).

    ``event`` and ``target`` accept shell patterns (``breaker.*``); ``of`` lists the
    denominator events of a ``ratio``, which is judged only once ``min_count`` of them
    are in the window; ``count``, ``rate`` and ``ratio`` are judged per target unless
    ``per_target`` is false; a ``gauge`` reads ``metric`` values given to
    :meth:`Detector.report`, or ``field`` of matching events.

    >>> Rule("x", kind="ratio", event="attempt.failed", op=">", threshold=0.2, window=60)
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.RULE] x: a ratio rule needs of (denominator events)
    """

    id: str
    kind: RuleKind
    op: str
    threshold: float
    event: str | None = None
    of: tuple[str, ...] = ()
    metric: str | None = None
    field: str | None = None
    target: str | None = None
    window: float | None = None
    sustained: float = 0.0
    min_count: int = 1
    per_target: bool = True
    severity: Severity = Severity.WARNING
    message: str = ""
    runbook: str | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ConfigError(self.id, problem, code="MITIGATE.CONFIG.RULE")

    def _problem(self) -> str:
        if self.op not in _COMPARE:
            return f"comparator {self.op!r} is not one of > >= < <="
        if self.kind in ("count", "rate", "ratio", "age") and not self.event:
            return f"a {self.kind} rule needs event"
        if self.kind in ("count", "rate", "ratio") and not (self.window and self.window > 0):
            return f"a {self.kind} rule needs a positive window"
        if self.kind == "ratio" and not self.of:
            return "a ratio rule needs of (denominator events)"
        if self.kind == "gauge" and not (self.metric or (self.event and self.field)):
            return "a gauge rule needs metric, or event and field"
        if self.sustained < 0:
            return "sustained cannot be negative"
        if self.min_count < 1:
            return "min_count must be at least 1"
        return ""


class _Window:
    """Event counts over the last ``span`` seconds, in slots of ``span / _RESOLUTION``."""

    __slots__ = ("_slots", "_span", "_step", "total")

    def __init__(self, span: float) -> None:
        self._span = span
        self._step = span / _RESOLUTION
        self._slots: deque[list[float]] = deque()  # [slot start, count]
        self.total = 0.0

    def add(self, now: float, amount: float = 1.0) -> None:
        slots = self._slots
        if slots and now - slots[-1][0] < self._step:
            slots[-1][1] += amount
        else:
            slots.append([now, amount])
        self.total += amount

    def expire(self, now: float) -> None:
        # An event at t counts while now - t < span: "5 in 5 min" means inside 5 minutes.
        slots = self._slots
        while slots and now - slots[0][0] >= self._span:
            self.total -= slots.popleft()[1]


@dataclass(slots=True)
class _Track:
    """The running condition of one rule for one target (or for all, key "")."""

    numerator: _Window | None = None
    denominator: _Window | None = None
    since: float | None = None  # when the condition started to hold
    firing: bool = False
    value: float = 0.0


@dataclass(slots=True)
class _State:
    rule: Rule
    grouped: bool  # count / rate / ratio are judged per target, like "sum by (target)"
    tracks: dict[str, _Track] = field(default_factory=dict)
    gauge: float | None = None
    last_seen: float = 0.0
    fired: int = 0
    targets: set[str] = field(default_factory=set)

    def track(self, key: str) -> _Track:
        track = self.tracks.get(key)
        if track is None:
            rule = self.rule
            track = _Track()
            if rule.window is not None and rule.kind in ("count", "rate", "ratio"):
                track.numerator = _Window(rule.window)
                if rule.kind == "ratio":
                    track.denominator = _Window(rule.window)
            self.tracks[key] = track
        return track


class Detector:
    """Evaluates rules over the events it observes; emits AlertRaised to ``observers``.

    ``count``, ``rate`` and ``ratio`` rules are judged per target (an error rate of
    ``sms.primary`` is not diluted by ``sms.backup``), as the exported Prometheus rules
    are (``sum by (target)``); ``gauge`` and ``age`` rules are judged once. Thread-safe:
    pipelines on several threads may share one detector.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        source: str = "detection",
    ) -> None:
        self._clock = clock if clock is not None else default_clock()
        self.observers = Observers(observers)
        self._source = source
        self._lock = threading.Lock()
        now = self._clock.now()
        self._states: dict[str, _State] = {}
        for rule in rules:
            if rule.id in self._states:
                raise ConfigError(
                    rule.id, "two detection rules share this id", code="MITIGATE.CONFIG.RULE"
                )
            grouped = rule.per_target and rule.kind in ("count", "rate", "ratio")
            state = _State(rule, grouped=grouped, last_seen=now)
            if not state.grouped:
                state.track("")
            self._states[rule.id] = state
        # Exact event names index straight to their rules; patterns are checked one by one.
        self._by_event: dict[str, list[tuple[_State, bool]]] = {}
        self._patterns: list[tuple[str, _State, bool]] = []
        for state in self._states.values():
            rule = state.rule
            names = [(rule.event, True)] if rule.event else []
            names += [(name, False) for name in rule.of]
            for name, is_numerator in names:
                if name is None:
                    continue
                if any(ch in name for ch in "*?["):
                    self._patterns.append((name, state, is_numerator))
                else:
                    self._by_event.setdefault(name, []).append((state, is_numerator))

    @property
    def rules(self) -> list[Rule]:
        return [state.rule for state in self._states.values()]

    def watches(self, target: str) -> bool:
        """Whether any rule reads the events of ``target``; a pipeline whose events no
        rule reads need not send them here (and keeps its unobserved fast path).

        >>> d = Detector([Rule("k", kind="count", event="breaker.opened", op=">",
        ...                    threshold=0, window=60, target="kms.*")])
        >>> d.watches("kms.sign"), d.watches("cdn.get")
        (True, False)
        """
        for state in self._states.values():
            rule = state.rule
            names = [n for n in (rule.event, *rule.of) if n is not None]
            if not any(fnmatch.fnmatchcase(e, n) for n in names for e in PIPELINE_EVENTS):
                continue  # a gauge fed by report(), or a rule over the service's own events
            if rule.target is None or fnmatch.fnmatchcase(target, rule.target):
                return True
        return False

    def firing(self) -> list[str]:
        """Ids of the rules whose alert is currently raised (for any target)."""
        with self._lock:
            return [
                rid
                for rid, state in self._states.items()
                if any(t.firing for t in state.tracks.values())
            ]

    def value(self, rule_id: str, target: str | None = None) -> float:
        """The rule's value as last evaluated: for ``target``, or the largest over all."""
        tracks = self._states[rule_id].tracks
        if target is not None:
            track = tracks.get(target)
            return track.value if track is not None else 0.0
        return max((t.value for t in tracks.values()), default=0.0)

    def fired(self, rule_id: str) -> int:
        """How many times the rule has fired."""
        return self._states[rule_id].fired

    # ------------------------------------------------------------------ inputs

    def __call__(self, event: Event) -> None:
        if event.name == AlertRaised.name:
            # never count plain alerts: ours come back through shared observers. Named
            # alerts (saga.stuck, saga.parked) count for the rules that name them.
            return
        matches = self._by_event.get(event.name, ())
        if self._patterns:
            matches = [
                *matches,
                *(
                    (state, is_num)
                    for pattern, state, is_num in self._patterns
                    if fnmatch.fnmatchcase(event.name, pattern)
                ),
            ]
        if not matches:
            return
        now = self._clock.now()
        alerts: list[AlertRaised] = []
        touched: dict[tuple[int, str], tuple[_State, str, _Track]] = {}
        with self._lock:
            for state, is_numerator in matches:
                rule = state.rule
                target = event.target
                if rule.target is not None and not fnmatch.fnmatchcase(target, rule.target):
                    continue
                state.targets.add(target)
                key = target if state.grouped else ""
                track = state.track(key)
                if rule.kind == "age":
                    state.last_seen = now
                elif rule.kind == "gauge":
                    if rule.field is None:
                        continue
                    raw = getattr(event, rule.field, None)
                    if not isinstance(raw, int | float):
                        continue
                    state.gauge = float(raw)
                elif is_numerator:
                    assert track.numerator is not None
                    track.numerator.add(now)
                else:
                    assert track.denominator is not None
                    track.denominator.add(now)
                touched[(id(state), key)] = (state, key, track)
            # Judged once every count of this event is in: an event that is both the
            # numerator and the denominator of a ratio counts in both before the check.
            for state, key, track in touched.values():
                alert = self._check(state, key, track, now)
                if alert is not None:
                    alerts.append(alert)
        self._send(alerts)

    def report(self, metric: str, value: float, *, target: str | None = None) -> None:
        """Give gauge rules on ``metric`` a new value (``outbox.lag``, queue depth...).

        >>> from mitigate.clock import VirtualClock
        >>> from mitigate.observe.observers import Recorder
        >>> alerts = Recorder()
        >>> d = Detector([Rule("lag", kind="gauge", metric="outbox_lag_seconds", op=">",
        ...                    threshold=30.0)], clock=VirtualClock(), observers=[alerts])
        >>> d.report("outbox_lag_seconds", 12.0); d.report("outbox_lag_seconds", 31.0)
        >>> alerts.values("alert.raised", "value")
        [31.0]
        """
        now = self._clock.now()
        alerts: list[AlertRaised] = []
        with self._lock:
            for state in self._states.values():
                rule = state.rule
                if rule.kind != "gauge" or rule.metric != metric:
                    continue
                if rule.target is not None and (
                    target is None or not fnmatch.fnmatchcase(target, rule.target)
                ):
                    continue
                if target is not None:
                    state.targets.add(target)
                state.gauge = float(value)
                alert = self._check(state, "", state.track(""), now)
                if alert is not None:
                    alerts.append(alert)
        self._send(alerts)

    def evaluate(self) -> list[AlertRaised]:
        """Check every rule at the clock's current time; returns (and emits) new alerts.

        Call it on an interval (:meth:`run` does) so that ``age`` rules, ``sustained``
        conditions and windows that empty out are seen without a new event.
        """
        now = self._clock.now()
        alerts: list[AlertRaised] = []
        with self._lock:
            for state in self._states.values():
                for key, track in list(state.tracks.items()):
                    alert = self._check(state, key, track, now)
                    if alert is not None:
                        alerts.append(alert)
                    elif state.grouped and not track.firing and _idle(track):
                        del state.tracks[key]  # forget targets that went quiet
        self._send(alerts)
        return alerts

    async def run(self, interval: float) -> None:
        """Evaluate every ``interval`` seconds on the clock, until cancelled."""
        if interval <= 0:
            raise ConfigError(None, "interval must be positive", code="MITIGATE.CONFIG.RULE")
        while True:
            await self._clock.asleep(interval)
            self.evaluate()

    # ------------------------------------------------------------------ core

    def _measure(self, state: _State, track: _Track, now: float) -> float | None:
        rule = state.rule
        if rule.kind == "age":
            return now - state.last_seen
        if rule.kind == "gauge":
            return state.gauge
        assert track.numerator is not None and rule.window is not None
        track.numerator.expire(now)
        if rule.kind == "count":
            return track.numerator.total
        if rule.kind == "rate":
            return track.numerator.total / rule.window
        assert track.denominator is not None
        track.denominator.expire(now)
        if track.denominator.total < rule.min_count or track.denominator.total <= 0:
            return None  # too little traffic: 1 failure in 1 call is not a 100 % error rate
        return track.numerator.total / track.denominator.total

    def _check(self, state: _State, key: str, track: _Track, now: float) -> AlertRaised | None:
        rule = state.rule
        value = self._measure(state, track, now)
        holds = value is not None and _COMPARE[rule.op](value, rule.threshold)
        if value is not None:
            track.value = value
        if not holds:
            track.since = None
            track.firing = False
            return None
        if track.since is None:
            track.since = now
        if track.firing or now - track.since < rule.sustained:
            return None
        track.firing = True
        state.fired += 1
        assert value is not None
        target = key or rule.target
        if not target and len(state.targets) == 1:
            target = next(iter(state.targets))
        return AlertRaised(
            target=target or self._source,
            at=now,
            severity=rule.severity,
            rule=rule.id,
            value=value,
            threshold=rule.threshold,
            message=_message(rule, value),
        )

    def _send(self, alerts: list[AlertRaised]) -> None:
        if not alerts or not self.observers:
            return
        for alert in alerts:
            self.observers.emit(alert)


def _idle(track: _Track) -> bool:
    return (track.numerator is None or track.numerator.total <= 0) and (
        track.denominator is None or track.denominator.total <= 0
    )


def _message(rule: Rule, value: float) -> str:
    what = rule.message or rule.id
    text = f"{what}: {rule.kind} {value:g} {rule.op} {rule.threshold:g}"
    if rule.window:
        text += f" over {rule.window:g}s"
    if rule.sustained:
        text += f" for {rule.sustained:g}s"
    if rule.runbook:
        text += f". Runbook: {rule.runbook}"
    return text
