"""The boundary checks every breaker row of the content catalog shares (10 failures in
30 s trip it, 60 s reset, one half-open probe), driven through publishes over the HTTP API.

An experiment names its target, how to count the dependency's calls, and what else must
hold while the breaker is open; this module stages the four phases and asserts them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mitigate.chaos import Failure, Run

from .harness import World, events_since


@dataclass(frozen=True, slots=True)
class BreakerRow:
    target: str
    calls: Callable[[], int]
    """How many calls reached the dependency so far."""
    fail_fast: str
    """The check's wording for "calls are rejected while open"."""
    zero_calls: str
    """The check's wording for "the dependency sees no call while open"."""
    while_open: Callable[[], Awaitable[None]] | None = None
    """Further checks while the breaker is open."""
    exact_reset: bool = True
    """Probe exactly 60 s after opening (else: no sooner than 60 s)."""


def _reset_ok(row: BreakerRow, gap: float) -> bool:
    return abs(gap - 60) < 1 if row.exact_reset else gap >= 60


async def check_breaker_row(run: Run, world: World, row: BreakerRow) -> None:
    target = row.target
    manifest = world.manifest(["index.html"])
    await world.draft("warm", manifest)
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")

    # 9 failures within 30 s: stays closed.
    t0 = run.clock.now()
    await world.draft("nine", manifest)
    async with run.fault(Failure(target, times=9)):
        await world.publish("nine")
        nine = await world.settle("nine")
    failed = events_since(run, "attempt.failed", target, t0)
    run.expect("9 failures inside 30 s", len(failed) == 9 and failed[-1].at - failed[0].at <= 30)
    run.expect("9 failures: closed", not events_since(run, "breaker.opened", target, t0))
    run.expect("the publish completes", nine["state"] == "published", nine["state"])

    # 10 failures spread over more than 30 s: 4 + 4 at once, then 2 more 31 s later.
    await run.wait(120)
    t1 = run.clock.now()
    for name, times in (("s1", 4), ("s2", 4)):
        await world.draft(name, manifest)
        async with run.fault(Failure(target, times=times)):
            await world.publish(name)
            await world.settle(name)
        await run.wait(31)
    await world.draft("s3", manifest)
    async with run.fault(Failure(target, times=2)):
        await world.publish("s3")
        await world.settle("s3")
    spread = events_since(run, "attempt.failed", target, t1)
    run.expect("10 failures over more than 30 s", len(spread) == 10, str(len(spread)))
    run.expect("spread failures: closed", not events_since(run, "breaker.opened", target, t1))

    # 10 failures inside 30 s: open; fail fast, zero dependency calls; probe after 60 s ok.
    await run.wait(120)
    t2 = run.clock.now()
    await world.draft("ten", manifest)
    calls = row.calls()
    async with run.fault(Failure(target, times=10)):
        await world.publish("ten")
        await run.wait(20)
        opened = events_since(run, "breaker.opened", target, t2)
        run.require("the 10th failure opens it", len(opened) == 1, str(len(opened)))
        await run.wait(30)
        rejected = events_since(run, "breaker.rejected", target, t2)
        if row.while_open is not None:
            await row.while_open()
        run.expect(row.fail_fast, bool(rejected))
        run.expect(row.zero_calls, row.calls() == calls)
        ten = await world.settle("ten")
    half = events_since(run, "breaker.half_opened", target, t2)
    closed = events_since(run, "breaker.closed", target, t2)
    run.expect(
        "one probe 60 s after opening"
        if row.exact_reset
        else "one probe, no sooner than 60 s after opening",
        bool(half) and _reset_ok(row, half[0].at - opened[0].at),
        f"opened {opened[0].at}, half-open {[e.at for e in half]}",
    )
    run.expect("the probe succeeds: closed", bool(closed), str([e.at for e in closed]))
    run.expect("the publish completes", ten["state"] == "published", ten["state"])

    # Probe fails: open for another 60 s.
    await run.wait(120)
    t3 = run.clock.now()
    await world.draft("down", manifest)
    async with run.fault(Failure(target)):
        await world.publish("down")
        await run.wait(150)
    reopened = events_since(run, "breaker.opened", target, t3)
    run.expect(
        "a failed probe opens it for another 60 s",
        len(reopened) >= 2 and _reset_ok(row, reopened[1].at - reopened[0].at),
        str([e.at for e in reopened]),
    )
