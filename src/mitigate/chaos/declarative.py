"""Experiments declared in a catalog: the fault, its duration, and ``verify`` phrases.

A catalog entry names the fault (``outage`` of ``payments.charge`` for ``30s``); the
service's :func:`~mitigate.chaos.workload` supplies the traffic; the ``verify`` phrases
say what must hold. The phrases this runner reads:

=============================  ==========================================================
``detected within 5s``         an ``alert.raised`` or ``breaker.opened`` within 5 s of the
                               fault's start
``detected by EVENT within T`` the named event (``retry.scheduled``) within T
``EVENT seen``                 at least one such event during the run
``recovered within 60s``       a call fully succeeds (no fallback) within 60 s of the end
``no errors``                  no call of the workload failed, during or after the fault
``no loss`` / ``no duplicates`` the workload's ledger: every key sent arrived, once
=============================  ==========================================================

>>> read_duration("250ms"), read_duration("2 min")
(0.25, 120.0)
>>> parse_phrase("detected by retry.scheduled within 2s")
('detected', 'retry.scheduled', 2.0)
>>> parse_phrase("be nice")
Traceback (most recent call last):
...
ValueError: cannot read 'be nice'; see docs/verify.md for the verify phrases

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from typing import Any

from mitigate.chaos.experiment import ExperimentFn, WorkloadFn
from mitigate.chaos.faults import Corrupt, Drop, Failure, Fault, Latency, Outage, Partition
from mitigate.chaos.run import DETECTION_EVENTS, Run

__all__ = ["build_fault", "make_declarative", "parse_phrase", "read_duration"]

DEFAULT_DURATION = 30.0
DEFAULT_INTERVAL = 1.0
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = r"(\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|h)"


def read_duration(text: str) -> float:
    match = re.fullmatch(_DURATION, text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write e.g. 250ms, 5s, 2 min")
    return float(match.group(1)) * _UNITS[match.group(2)]


Phrase = tuple[str, str | None, float | None]


def parse_phrase(text: str) -> Phrase:
    """Read one ``verify`` phrase into (what, event, seconds)."""
    t = " ".join(text.lower().split())
    if m := re.fullmatch(rf"detected by ([a-z_.]+) within {_DURATION}", t):
        return ("detected", m.group(1), read_duration(f"{m.group(2)}{m.group(3)}"))
    if m := re.fullmatch(rf"detected within {_DURATION}", t):
        return ("detected", None, read_duration(f"{m.group(1)}{m.group(2)}"))
    if m := re.fullmatch(rf"recovered within {_DURATION}", t):
        return ("recovered", None, read_duration(f"{m.group(1)}{m.group(2)}"))
    if m := re.fullmatch(r"([a-z_]+\.[a-z_.]+) seen", t):
        return ("seen", m.group(1), None)
    if t in ("no errors", "no loss", "no duplicates"):
        return (t, None, None)
    raise ValueError(f"cannot read {text!r}; see docs/verify.md for the verify phrases")


def build_fault(entry: Any, service: str) -> Fault:
    """The :class:`Fault` a catalog experiment entry describes."""
    kind, target = entry.fault, entry.target or "*"
    duration = _seconds(entry.duration) if entry.duration is not None else DEFAULT_DURATION
    rate = entry.rate if entry.rate is not None else 1.0
    if kind == "error":
        return Failure(target, rate=rate, duration=duration)
    if kind == "outage":
        return Outage(target, duration=duration)
    if kind == "latency":
        delay = _seconds(entry.latency) if entry.latency is not None else 1.0
        return Latency(target, delay=delay, rate=rate, duration=duration)
    if kind == "drop":
        return Drop(target, rate=rate, duration=duration)
    if kind == "corrupt":
        return Corrupt(target, rate=rate, duration=duration)
    if kind == "partition":
        if not entry.peer:
            raise ValueError("a partition experiment needs a peer")
        return Partition(a=service, b=entry.peer, duration=duration)
    raise ValueError(f"a {kind!r} fault cannot be declared in a catalog; write it in Python")


def _seconds(value: float | str) -> float:
    return float(value) if isinstance(value, int | float) else read_duration(value)


def make_declarative(entry: Any, service: str, work: WorkloadFn | None) -> ExperimentFn:
    """The experiment function that runs a catalog entry."""
    phrases = [parse_phrase(p) for p in entry.verify]  # a bad phrase fails here, by name
    fault = build_fault(entry, service)
    if not phrases:
        raise ValueError("the entry has no verify phrases, so it could not fail")
    if work is None:
        raise ValueError("the service's experiments module defines no @workload to drive")
    workload = work

    async def run_entry(run: Run) -> None:
        interval = DEFAULT_INTERVAL
        for i in range(3):
            outcome = await run.call("workload", workload, run, i)
            await run.steady(f"workload call {i + 1} succeeds", outcome.status == "ok")
        n = 3
        duration = fault.duration if fault.duration is not None else DEFAULT_DURATION
        async with run.fault(fault, duration=duration):
            end = run.clock.now() + duration
            while run.clock.now() < end:
                await run.call("workload", workload, run, n)
                n += 1
                await run.wait(interval)
        fault_end = run.clock.now()
        horizon = max([p[2] or 0.0 for p in phrases if p[0] == "recovered"] + [10 * interval])
        while run.clock.now() < fault_end + horizon:
            await run.call("workload", workload, run, n)
            n += 1
            await run.wait(interval)
        _judge(run, phrases, fault_end)

    return run_entry


def _judge(run: Run, phrases: list[Phrase], fault_end: float) -> None:
    start = run.fault_started() or 0.0
    for what, event, limit in phrases:
        if what == "detected":
            names = (event,) if event else DETECTION_EVENTS
            times = [e.at - start for n in names for e in run.recorder.named(n) if e.at >= start]
            delay = min(times) if times else None
            if delay is not None:
                run.detected_s = delay if run.detected_s is None else min(run.detected_s, delay)
            label = f"detected by {' or '.join(names)} within {limit:g}s"
            ok = delay is not None and limit is not None and delay <= limit
            run.expect(label, ok, "never" if delay is None else f"after {delay:.3g}s")
        elif what == "recovered":
            firsts = [
                c.end for c in run.timeline.calls if c.start >= fault_end and c.status == "ok"
            ]
            delay = (firsts[0] - fault_end) if firsts else None
            run.recovered_s = delay
            ok = delay is not None and limit is not None and delay <= limit
            run.expect(
                f"recovered within {limit:g}s",
                ok,
                "never" if delay is None else f"after {delay:.3g}s",
            )
        elif what == "seen":
            assert event is not None
            count = run.recorder.count(event)
            run.expect(f"{event} seen", count > 0, f"{count} times")
        elif what == "no errors":
            errors = [c for c in run.timeline.calls if c.status == "error"]
            run.expect("no errors", not errors, f"{len(errors)} calls failed")
        elif what in ("no loss", "no duplicates"):
            if not run.ledger.used:
                run.expect(what, False, "the workload keeps no ledger (run.ledger.sent/received)")
            elif what == "no loss":
                run.expect("no loss", run.ledger.lost == 0, f"lost {run.ledger.lost}")
            else:
                run.expect("no duplicates", run.ledger.duplicated == 0, f"{run.ledger.duplicated}")
