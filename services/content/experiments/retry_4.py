"""content.retry.4: the publish saga step schedule, max 5 retries, exponential capped at
30 s, 15 min in all (the saga timeout): success on the 6th attempt; never -> compensation
after 5 retries; a hung step -> the 15 min timeout compensates mid-wait."""

from __future__ import annotations

import itertools

from services.content.harness import first_call, open_world

from mitigate.chaos import Failure, Latency, Run, experiment


@experiment("content.retry.4")
async def publish_step_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("ok", manifest)
    await world.publish("ok")
    await run.steady("publish works", (await world.settle("ok"))["state"] == "published")

    await world.draft("flaky", manifest)
    t0 = run.clock.now()
    async with run.fault(Failure("publish.step", times=5)):
        await world.publish("flaky")
        flaky = await world.settle("flaky")
    call = first_call(run, "publish.step", t0)
    delays = call["delays"]
    run.expect("6th attempt succeeds", call["attempts"] == 6 and call["gave_up"] is None)
    run.expect(
        "delays exponential, none above 30 s",
        len(delays) == 5
        and all(b >= a for a, b in itertools.pairwise(delays))
        and delays[1] == 2 * delays[0]
        and max(delays) <= 30,
        str(delays),
    )
    run.expect("published", flaky["state"] == "published", flaky["state"])

    # Never succeeds: after 5 retries the step fails and compensation runs.
    await world.draft("never", manifest)
    t1 = run.clock.now()
    async with run.fault(Failure("publish.step")):
        response = await world.publish("never")
        never = await world.settle("never")
    call = first_call(run, "publish.step", t1)
    state = await world.saga_state(response.json()["publishId"])
    run.expect("never: 6 attempts, then it gives up", call["attempts"] == 6, str(call))
    run.expect("never: compensated", state == "compensated", state)
    run.expect("never: draft approved", never["state"] == "approved", never["state"])

    # A step that hangs: the 15 min saga timeout forces compensation in the wait. The build
    # takes ~18 s (slow asset source), so the signing step hangs past the saga's deadline
    # before its own 15 min budget: the saga timeout is what ends it.
    await world.draft("hung", manifest)
    t2 = run.clock.now()
    slow_build = Latency("asset.fetch", delay=9)
    hang = Latency("publish.step", delay=3 * 3600, after=1)  # build passes, signing hangs
    async with run.fault(slow_build), run.fault(hang):
        response = await world.publish("hung")
        hung = await world.settle("hung", limit=30 * 60)
    ended = run.clock.now() - t2
    state = await world.saga_state(response.json()["publishId"])
    run.expect("hung: compensated", state == "compensated", state)
    run.expect("hung: ended by the 15 min timeout", 15 * 60 <= ended <= 15 * 60 + 30, f"{ended}s")
    run.expect("hung: draft approved", hung["state"] == "approved", hung["state"])
    await run.expect_event("saga.deadline_exceeded", within=30 * 60, detection=False)
