"""The checks the saga's two breaker rows share (catalog, content service: 5 failures in
30 s trip it, 60 s reset), driven through publish commands over the HTTP API.

Open-breaker refusals are step failures: the saga step's own retries (4, 8, 16, 30, 30 s)
carry the publish past the 60 s reset, where one probe closes the breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mitigate.chaos import Failure, Run

from .harness import World, alerts, events_since


async def check_saga_breaker(
    run: Run, world: World, target: str, rule: str, requests: Callable[[], int]
) -> None:
    world.asset("a.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    # 4 failures inside 30 s (the step's attempts at 0, 4, 12, 28 s): stays closed.
    t0 = run.clock.now()
    four = await world.approved_draft(["a.png"])
    async with run.fault(Failure(target, times=4)):
        await world.publish(four)
        state = await world.settle(four)
    failed = events_since(run, "attempt.failed", target, t0)
    run.expect("4 failures inside 30 s", len(failed) == 4 and failed[-1].at - failed[0].at <= 30)
    run.expect("4 failures: closed", not events_since(run, "breaker.opened", target, t0))
    run.expect("the 5th attempt publishes", state == "published", state)

    # Two publishes at once, 5 failures between them inside 30 s: open.
    await run.wait(120)
    t1 = run.clock.now()
    drafts = [await world.approved_draft(["a.png"]) for _ in range(2)]
    async with run.fault(Failure(target, times=5)):
        for draft in drafts:
            await world.publish(draft)
        while not events_since(run, "breaker.opened", target, t1) and run.clock.now() < t1 + 60:
            await run.clock.asleep(0.5)
    opened = events_since(run, "breaker.opened", target, t1)
    run.require("the 5th failure inside 30 s opens it", len(opened) == 1, str(len(opened)))
    run.expect("ops alert raised", bool(alerts(run, rule)))
    seen = requests()
    await run.wait(opened[0].at + 59 - run.clock.now())
    rejected = events_since(run, "breaker.rejected", target, t1)
    run.expect("while open: calls refused at once", bool(rejected))
    run.expect("while open: the service sees no request", requests() == seen)
    step_retries = events_since(run, "retry.scheduled", "publish.step", opened[0].at)
    run.expect("refusals feed the saga step retries", bool(step_retries))
    states = await asyncio.gather(*(world.settle(d) for d in drafts))
    half = events_since(run, "breaker.half_opened", target, t1)
    gap = half[0].at - opened[0].at if half else 0.0
    run.expect("one probe, no sooner than 60 s after opening", bool(half) and gap >= 60, str(gap))
    run.expect("the probe succeeds: closed", bool(events_since(run, "breaker.closed", target, t1)))
    run.expect("both publishes complete", states == ["published", "published"], str(states))
