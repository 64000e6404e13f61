"""Structured JSON logs: one object per event, at the event's severity."""

from __future__ import annotations

import io
import json

import pytest

from mitigate import Breaker, Pipeline, Retry, Severity, VirtualClock
from mitigate.observe.logs import StructlogObserver, json_logger
from mitigate.testing import FlakyDependency


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_event_is_one_json_line() -> None:
    out = io.StringIO()
    clock = VirtualClock()
    policy = Pipeline(
        "kms.sign",
        Retry(2, schedule=(0.05,), budget=120),  # time to wait out the 60 s reset
        Breaker(2, 30, 60),
        clock=clock,
        observers=[StructlogObserver(json_logger(out))],
    )
    with pytest.raises(ConnectionError):
        policy.call(FlakyDependency(fail_times=9))
    records = lines(out)
    assert [r["event"] for r in records] == [
        "attempt.started",
        "attempt.failed",
        "retry.scheduled",
        "attempt.started",
        "attempt.failed",
        "breaker.opened",
        "retry.scheduled",
        "breaker.half_opened",
        "attempt.started",
        "attempt.failed",
        "breaker.opened",
        "retry.exhausted",
    ]
    assert all(r["target"] == "kms.sign" for r in records)
    failed = records[1]
    assert failed["level"] == "warning" and failed["severity"] == "warning"
    assert failed["error"] == "ConnectionError: dependency unavailable"
    assert failed["attempt"] == 1 and "timestamp" in failed
    opened = records[5]
    assert opened["level"] == "error" and opened["failures"] == 2
    assert opened["reason"] == "open after 2 failures in 30s"
    scheduled = records[6]
    assert scheduled["delay"] == pytest.approx(60.0) and scheduled["server_directed"] is True


def test_min_severity_drops_quiet_events() -> None:
    out = io.StringIO()
    observer = StructlogObserver(json_logger(out), min_severity=Severity.WARNING)
    policy = Pipeline("t", Retry(1, schedule=(0.1,)), clock=VirtualClock(), observers=[observer])
    policy.call(FlakyDependency(fail_times=1, then="ok"))
    assert [r["event"] for r in lines(out)] == ["attempt.failed"]
