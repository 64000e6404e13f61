"""content.breaker.2: the object-store (S3) breaker, trips at 10 failures in 30 s, resets
after 60 s.

Through publishes over the HTTP API: 9 upload failures in 30 s leave it closed; the 10th
inside 30 s opens it; 10 failures spread over more than 30 s leave it closed; while open,
uploads fail fast, the object store sees no write and the publish waits in its saga (the
author's request is not failed); 60 s later one probe decides (ok: closed; failing: open
for another 60 s)."""

from __future__ import annotations

from services.content.harness import events_since, open_world

from mitigate.chaos import Failure, Run, experiment

TARGET = "objects.put"


@experiment("content.breaker.2")
async def s3_breaker(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    store = world.content.runtime.objects
    await world.draft("warm", manifest)
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")

    # 9 failures within 30 s (6 in the first upload call, 3 in the next): stays closed.
    t0 = run.clock.now()
    await world.draft("nine", manifest)
    async with run.fault(Failure(TARGET, times=9)):
        await world.publish("nine")
        nine = await world.settle("nine")
    failed = events_since(run, "attempt.failed", TARGET, t0)
    run.expect("9 failures inside 30 s", len(failed) == 9 and failed[-1].at - failed[0].at <= 30)
    run.expect("9 failures: closed", not events_since(run, "breaker.opened", TARGET, t0))
    run.expect("the publish completes", nine["state"] == "published", nine["state"])

    # 10 failures spread over more than 30 s: 4 + 4 at once, then 2 more 31 s later.
    await run.wait(120)
    t1 = run.clock.now()
    for name, times in (("s1", 4), ("s2", 4)):
        await world.draft(name, manifest)
        async with run.fault(Failure(TARGET, times=times)):
            await world.publish(name)
            await world.settle(name)
        await run.wait(31)
    await world.draft("s3", manifest)
    async with run.fault(Failure(TARGET, times=2)):
        await world.publish("s3")
        await world.settle("s3")
    spread = events_since(run, "attempt.failed", TARGET, t1)
    run.expect("10 failures over more than 30 s", len(spread) == 10, str(len(spread)))
    run.expect("spread failures: closed", not events_since(run, "breaker.opened", TARGET, t1))

    # 10 failures inside 30 s: open; fail fast, zero key ring calls; probe after 60 s is ok.
    await run.wait(120)
    t2 = run.clock.now()
    await world.draft("ten", manifest)
    calls = store.writes
    async with run.fault(Failure(TARGET, times=10)):
        await world.publish("ten")
        await run.wait(20)
        opened = events_since(run, "breaker.opened", TARGET, t2)
        run.require("the 10th failure opens it", len(opened) == 1, str(len(opened)))
        await run.wait(30)
        rejected = events_since(run, "breaker.rejected", TARGET, t2)
        waiting = (await world.http.get("/v1/drafts/ten")).json()
        run.expect(
            "while open, the publish waits (building), the request did not fail",
            waiting["state"] == "building",
            waiting["state"],
        )
        run.expect("while open, uploads fail fast (rejected)", bool(rejected))
        run.expect("while open, the object store sees zero writes", store.writes == calls)
        ten = await world.settle("ten")
    half = events_since(run, "breaker.half_opened", TARGET, t2)
    closed = events_since(run, "breaker.closed", TARGET, t2)
    run.expect(
        "one probe, no sooner than 60 s after opening",
        bool(half) and half[0].at - opened[0].at >= 60,
        f"opened {opened[0].at}, half-open {[e.at for e in half]}",
    )
    run.expect("the probe succeeds: closed", bool(closed), str([e.at for e in closed]))
    run.expect("the publish completes", ten["state"] == "published", ten["state"])

    # Probe fails: open for another 60 s.
    await run.wait(120)
    t3 = run.clock.now()
    await world.draft("down", manifest)
    async with run.fault(Failure(TARGET)):
        await world.publish("down")
        await run.wait(150)
    reopened = events_since(run, "breaker.opened", TARGET, t3)
    run.expect(
        "a failed probe opens it for another 60 s",
        len(reopened) >= 2 and reopened[1].at - reopened[0].at >= 60,
        str([e.at for e in reopened]),
    )
