"""authoring.retry.4: the publish saga step schedule, max 5 retries, exponential capped
at 30 s, inside the 15 min saga timeout: success on the 6th attempt; never ->
compensation after 5 retries; a hung step -> the 15 min timeout compensates."""

from __future__ import annotations

import itertools

from mitigate.chaos import Failure, Latency, Run, experiment
from services.authoring.harness import alerts, events_since, open_world, step_attempts


@experiment("authoring.retry.4")
async def publish_step_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    flaky = await world.approved_draft(["a.png"])
    t0 = run.clock.now()
    async with run.fault(Failure("publish.step", times=5)):
        await world.publish(flaky)
        state = await world.settle(flaky)
    call = step_attempts(run, t0)
    delays = [e.delay for e in events_since(run, "retry.scheduled", "publish.step", t0)]
    delays = delays[: len(call) - 1]
    run.expect("the 6th attempt succeeds", len(call) == 6, str(len(call)))
    run.expect(
        "delays exponential, none above 30 s",
        len(delays) == 5
        and all(b >= a for a, b in itertools.pairwise(delays))
        and delays[1] == 2 * delays[0]
        and max(delays) <= 30,
        str(delays),
    )
    run.expect("published", state == "published", state)

    await run.wait(300)
    never = await world.approved_draft(["a.png"])
    t1 = run.clock.now()
    async with run.fault(Failure("publish.step")):
        response = await world.publish(never)
        state = await world.settle(never)
    call = step_attempts(run, t1)
    saga = await world.saga_state(response.json()["publishId"])
    run.expect("never: 6 attempts, then it gives up", len(call) == 6, str(len(call)))
    run.expect("never: compensated", saga == "compensated", saga)
    run.expect("never: draft approved", state == "approved", state)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.publish-compensated")))

    # A hung step: registration passes (slowly, 4 s), bundling hangs; the saga's 15 min
    # timeout, which started before the step's own 15 min budget, compensates.
    hung = await world.approved_draft(["a.png"])
    t2 = run.clock.now()
    slow = Latency("catalog.register", delay=4)
    hang = Latency("publish.step", delay=3 * 3600, after=1)
    async with run.fault(slow), run.fault(hang):
        response = await world.publish(hung)
        state = await world.settle(hung, limit=30 * 60)
    ended = run.clock.now() - t2
    saga = await world.saga_state(response.json()["publishId"])
    run.expect("hung: compensated", saga == "compensated", saga)
    run.expect("hung: ended by the 15 min timeout", 15 * 60 <= ended <= 15 * 60 + 30, f"{ended}s")
    run.expect("hung: draft approved", state == "approved", state)
    run.expect("timeout alert raised", bool(alerts(run, "authoring.rule.saga-timeout")))
