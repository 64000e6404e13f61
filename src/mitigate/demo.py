"""A worked demonstration: a flaky dependency behind fallback, retry, breaker and timeout,
driven through an outage in virtual time, with every guarantee checked against the
recorded events.

The dependency (``config.fetch``) answers in 20 ms, is down from 30 s to 75 s and hangs
for 10 s on every call between 90 s and 95 s. A caller asks once a second for two
minutes. The pipeline: fallback to the last known good answer (at most 5 minutes old) ->
retry (3 retries, 50ms, 200ms, 500ms, 1s budget) -> breaker (5 failures in 30 s, reset
20 s) -> 500 ms attempt timeout. :func:`run_demo` returns a :class:`DemoResult` (the
events and one :class:`Check` per guarantee), so a chaos runner can verify it too.

>>> result = run_demo()
>>> result.passed, len(result.checks)
(True, 7)
>>> run_demo(breaker=False).failed()[0].name
'the breaker opened during the outage and closed after it'

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mitigate.clock import VirtualClock
from mitigate.observe.events import Event
from mitigate.observe.observers import Recorder
from mitigate.policy import Breaker, Fallback, Pipeline, Retry, Strategy, Timeout

__all__ = ["Check", "DemoResult", "demo_command", "print_demo", "run_demo"]

TARGET = "config.fetch"
OUTAGE = (30.0, 75.0)
HANG = (90.0, 95.0)
DURATION = 120
BUDGET = 1.0
MAX_AGE = 300.0


@dataclass(frozen=True, slots=True)
class Check:
    """One guarantee, whether it held, and the evidence."""

    name: str
    passed: bool
    detail: str


@dataclass(slots=True)
class DemoResult:
    """What happened (events, answers, dependency calls) and what was guaranteed."""

    events: list[Event]
    answers: list[tuple[float, float, Any]]  # (asked at, answered at, answer)
    dependency_calls: list[float]
    checks: list[Check] = field(default_factory=list)
    call_events: list[tuple[int, int]] = field(default_factory=list)  # event slice per call

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
            "events": [event.fields() for event in self.events],
        }


class _ConfigService:
    """The flaky dependency: its answers carry the time they were made."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.calls: list[float] = []
        self.errors = 0

    async def fetch(self) -> dict[str, float]:
        now = self.clock.now()
        self.calls.append(now)
        if OUTAGE[0] <= now < OUTAGE[1]:
            self.errors += 1
            raise ConnectionError("config service unreachable")
        await self.clock.asleep(10.0 if HANG[0] <= now < HANG[1] else 0.02)
        return {"made_at": now}


def run_demo(*, breaker: bool = True, fallback: bool = True) -> DemoResult:
    """Run the outage in virtual time (milliseconds of wall time) and check it.

    ``breaker=False`` / ``fallback=False`` remove a mitigation, to show the checks fail.
    """
    clock = VirtualClock()
    recorder = Recorder()
    service = _ConfigService(clock)
    strategies: list[Strategy] = [
        Retry.from_table("3", "50ms, 200ms, 500ms", "1s"),
        Timeout(0.5),
    ]
    if breaker:
        strategies.append(Breaker.from_table("5 fail / 30s", "20s"))
    if fallback:
        strategies.append(Fallback(last_known_good=MAX_AGE))
    policy = Pipeline(TARGET, *strategies, clock=clock, observers=[recorder])
    answers: list[tuple[float, float, Any]] = []
    slices: list[tuple[int, int]] = []

    async def caller() -> None:
        for second in range(DURATION):
            await clock.asleep(second - clock.now())
            asked = clock.now()
            first = len(recorder)
            try:
                answer: Any = await policy.acall(service.fetch)
            except Exception as exc:  # a guarantee below counts these
                answer = exc
            answers.append((asked, clock.now(), answer))
            slices.append((first, len(recorder)))

    asyncio.run(caller())
    result = DemoResult(recorder.events, answers, service.calls, call_events=slices)
    result.checks = _checks(result, service)
    return result


def _open_spans(events: list[Event]) -> list[tuple[float, float]]:
    spans, opened = [], None
    for event in events:
        if event.name == "breaker.opened":
            opened = event.at
        elif event.name == "breaker.half_opened" and opened is not None:
            spans.append((opened, event.at))
            opened = None
    if opened is not None:
        spans.append((opened, float("inf")))
    return spans


def _checks(result: DemoResult, service: _ConfigService) -> list[Check]:
    events = result.events
    checks = []

    errors = [(asked, a) for asked, _, a in result.answers if isinstance(a, BaseException)]
    checks.append(
        Check(
            "every call was answered (primary or fallback), none saw an error",
            not errors and len(result.answers) == DURATION,
            f"{len(result.answers)} calls, {len(errors)} errors"
            + (f" (first at {errors[0][0]:.0f}s: {errors[0][1]!r})" if errors else ""),
        )
    )

    spans = _open_spans(events)
    leaked = [t for t in result.dependency_calls for a, b in spans if a < t < b]
    checks.append(
        Check(
            "no call reached the dependency while the breaker was open",
            not leaked,
            f"{len(spans)} open period(s); {len(leaked)} call(s) inside them",
        )
    )

    opened = [e.at for e in events if e.name == "breaker.opened"]
    closed = [e.at for e in events if e.name == "breaker.closed"]
    ok = bool(opened) and OUTAGE[0] <= opened[0] < OUTAGE[1] and any(t >= OUTAGE[1] for t in closed)
    checks.append(
        Check(
            "the breaker opened during the outage and closed after it",
            ok,
            f"opened at {', '.join(f'{t:.1f}s' for t in opened) or 'never'}; "
            f"closed at {', '.join(f'{t:.1f}s' for t in closed) or 'never'}",
        )
    )

    slowest = max((done - asked for asked, done, _ in result.answers), default=0.0)
    overrun = [
        e for e in events if e.name == "retry.scheduled" and getattr(e, "delay", 0.0) >= BUDGET
    ]
    checks.append(
        Check(
            "no call ran past its 1s budget (retries included)",
            slowest <= BUDGET + 1e-9 and not overrun,
            f"slowest call took {slowest * 1000:.0f} ms",
        )
    )

    ages = [
        done - a["made_at"]
        for _, done, a in result.answers
        if isinstance(a, dict) and "made_at" in a
    ]
    stale = [age for age in ages if age > MAX_AGE]
    checks.append(
        Check(
            "fallback answers were never older than 5 minutes",
            not stale and any(e.name == "fallback.used" for e in events),
            f"{sum(e.name == 'fallback.used' for e in events)} fallback answers, "
            f"oldest {max(ages, default=0.0):.0f}s",
        )
    )

    failed_attempts = sum(
        1 for e in events if e.name == "attempt.failed" and isinstance(e.error, ConnectionError)
    )
    timeouts = sum(1 for e in events if e.name == "timeout.fired")
    checks.append(
        Check(
            "every failure was observed (no silent failure)",
            failed_attempts == service.errors and timeouts > 0,
            f"{service.errors} dependency errors, {failed_attempts} attempt.failed events, "
            f"{timeouts} timeouts",
        )
    )

    last_close = max(closed, default=float("inf"))
    after = [(done, a) for asked, done, a in result.answers if asked > last_close]
    fresh = [a for done, a in after if isinstance(a, dict) and done - a["made_at"] < BUDGET]
    checks.append(
        Check(
            "once the breaker closed again, every answer came from the dependency",
            bool(after) and len(fresh) == len(after),
            f"{len(fresh)} of {len(after)} answers after {last_close:.1f}s were fresh"
            if closed
            else "the breaker never closed",
        )
    )
    return checks


_QUIET = {"attempt.started", "attempt.succeeded"}


def print_demo(result: DemoResult, console: Console) -> None:
    """The event timeline and the guarantees, as rich tables. Consecutive calls that
    took the same decisions are folded into one row."""
    timeline = Table(
        title=f"{TARGET}: down {OUTAGE[0]:.0f}s-{OUTAGE[1]:.0f}s, "
        f"hangs {HANG[0]:.0f}s-{HANG[1]:.0f}s, one call a second"
    )
    timeline.add_column("t (s)", justify="right")
    timeline.add_column("calls", justify="right")
    timeline.add_column("decisions")
    groups: list[list[Any]] = []  # [first asked, last asked, count, decisions, events]
    for (asked, _, _), (lo, hi) in zip(result.answers, result.call_events, strict=True):
        events = [e for e in result.events[lo:hi] if e.name not in _QUIET]
        names = tuple(e.name for e in events)
        if (
            groups
            and groups[-1][3] == names
            and not any("breaker." in n and n != "breaker.rejected" for n in names)
        ):
            groups[-1][1] = asked
            groups[-1][2] += 1
        else:
            groups.append([asked, asked, 1, names, events])
    for first, last, count, names, events in groups:
        span = f"{first:.0f}" if count == 1 else f"{first:.0f}-{last:.0f}"
        if not names:
            timeline.add_row(span, str(count), "[green]answered by the dependency[/green]")
            continue
        lines = []
        for event in events:
            style = _STYLE.get(event.name, "")
            text = f"{event.at:.2f}s {event.name}" if count == 1 else event.name
            detail = _detail(event)
            line = f"{text}  {detail}" if detail else text
            lines.append(f"[{style}]{line}[/{style}]" if style else line)
        timeline.add_row(span, str(count), "\n".join(lines))
    console.print(timeline)
    summary = Table(title="guarantees")
    summary.add_column("")
    summary.add_column("guarantee")
    summary.add_column("evidence")
    for check in result.checks:
        mark = "[green]PASS[/green]" if check.passed else "[red]FAIL[/red]"
        summary.add_row(mark, check.name, check.detail)
    console.print(summary)
    if result.passed:
        console.print("[green]all guarantees held[/green]")
    else:
        console.print(f"[red]{len(result.failed())} guarantee(s) failed[/red]")


_STYLE = {
    "breaker.opened": "red",
    "attempt.failed": "yellow",
    "timeout.fired": "yellow",
    "fallback.used": "cyan",
    "breaker.closed": "green",
}


def _detail(event: Event) -> str:
    fields = event.fields()
    for key in ("name", "target", "at", "attempt", "severity", "error", "from_state", "to_state"):
        fields.pop(key, None)
    parts = []
    for key, value in fields.items():
        if value in (None, "", 0, 0.0, False):
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        parts.append(f"{key}={value}")
    if event.error is not None and event.name in ("attempt.failed", "fallback.used"):
        parts.insert(0, type(event.error).__name__)
    return ", ".join(parts)


def demo_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_breaker: Annotated[
        bool, typer.Option("--no-breaker", help="Remove the breaker (a guarantee fails).")
    ] = False,
    no_fallback: Annotated[
        bool, typer.Option("--no-fallback", help="Remove the fallback (a guarantee fails).")
    ] = False,
) -> None:
    """Drive a flaky dependency through an outage in virtual time and check what the
    policies guarantee (exit code 1 when a guarantee fails)."""
    result = run_demo(breaker=not no_breaker, fallback=not no_fallback)
    if as_json:
        typer.echo(json.dumps(result.to_json(), default=str))
    else:
        print_demo(result, Console())
    if not result.passed:
        raise typer.Exit(1)
