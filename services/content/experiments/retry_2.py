"""content.retry.2: the object-store upload schedule, max 5 retries, exponential 100 ms to
10 s, inside a 30 s budget; a retried put of one key leaves one whole object."""

from __future__ import annotations

import itertools

from services.content.harness import first_call, open_world

from mitigate.chaos import Failure, Latency, Run, experiment


@experiment("content.retry.2")
async def upload_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>hi</p>" * 100)
    manifest = world.manifest(["index.html"])
    await world.draft("ok", manifest)
    await world.publish("ok")
    await run.steady("publish works", (await world.settle("ok"))["state"] == "published")

    # Fails 5 times, then stores: delays grow from 100 ms, none above 10 s; 6th attempt ok.
    await world.draft("flaky", manifest)
    t0 = run.clock.now()
    async with run.fault(Failure("objects.put", times=5)):
        await world.publish("flaky")
        flaky = await world.settle("flaky")
    call = first_call(run, "objects.put", t0)
    delays = call["delays"]
    run.expect("5 retries, the 6th attempt succeeds", call["attempts"] == 6, str(call))
    run.expect(
        "delays grow from 100 ms and never exceed 10 s",
        bool(delays)
        and delays[0] == 0.1
        and all(b >= a for a, b in itertools.pairwise(delays))
        and max(delays) <= 10,
        str(delays),
    )
    run.expect("the publish completes", flaky["state"] == "published", flaky["state"])
    keys = [k for k in await world.objects() if flaky["packageId"] in k]
    run.expect(
        "repeated puts of one key leave one object each",
        sorted(k.rsplit("/", 1)[1] for k in keys) == ["content.bin", "index.json"],
        str(keys),
    )
    partial = list((world.content.runtime.objects.root / ".tmp").iterdir())  # type: ignore[attr-defined]
    run.expect("no partial file left", partial == [], str(partial))

    # Always fails: stops after 5 retries or at 30 s, whichever comes first.
    await world.draft("down", manifest)
    t1 = run.clock.now()
    async with run.fault(Failure("objects.put")):
        await world.publish("down")
        await run.wait(40)
    call = first_call(run, "objects.put", t1)
    run.expect("always failing: at most 6 attempts", 1 <= call["attempts"] <= 6, str(call))
    run.expect(
        "it gives up inside 30 s",
        call["gave_up"] is not None and call["gave_up"] - call["start"] <= 30,
        str(call),
    )

    # 8 s per failing attempt: never beyond the 30 s budget.
    await run.wait(120)  # the S3 breaker has closed again
    await world.draft("slow", manifest)
    t2 = run.clock.now()
    async with run.fault(Failure("objects.put")), run.fault(Latency("objects.put", delay=8)):
        await world.publish("slow")
        await run.wait(40)
    call = first_call(run, "objects.put", t2)
    run.expect(
        "the slow variant ends within 30 s",
        call["gave_up"] is not None and call["gave_up"] - call["start"] <= 30,
        str(call),
    )
