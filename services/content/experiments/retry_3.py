"""content.retry.3: the asset fetch schedule, max 3 retries at 500 ms, 2 s, 5 s inside a
10 s budget; when it runs out the build fails cleanly (content.fm.1.1 compensation)."""

from __future__ import annotations

from services.content.harness import first_call, open_world

from mitigate.chaos import Failure, Latency, Run, experiment


@experiment("content.retry.3")
async def asset_fetch_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("ok", manifest)
    await world.publish("ok")
    await run.steady("publish works", (await world.settle("ok"))["state"] == "published")

    await world.draft("flaky", manifest)
    t0 = run.clock.now()
    async with run.fault(Failure("asset.fetch", times=3)):
        await world.publish("flaky")
        flaky = await world.settle("flaky")
    call = first_call(run, "asset.fetch", t0)
    run.expect("retries after 500 ms, 2 s, 5 s", call["delays"] == [0.5, 2.0, 5.0], str(call))
    run.expect("the 4th attempt succeeds", call["attempts"] == 4 and call["gave_up"] is None)
    run.expect("the publish completes", flaky["state"] == "published", flaky["state"])

    # Always fails: gives up after 3 retries (7.5 s of waiting), inside 10 s; the build
    # then fails cleanly and the saga compensates.
    await world.draft("down", manifest)
    t1 = run.clock.now()
    async with run.fault(Failure("asset.fetch")):
        response = await world.publish("down")
        down = await world.settle("down")
    call = first_call(run, "asset.fetch", t1)
    run.expect("gives up after 3 retries", call["attempts"] == 4, str(call))
    run.expect(
        "7.5 s of waiting, inside 10 s",
        sum(call["delays"]) == 7.5 and call["gave_up"] - call["start"] <= 10,
        str(call),
    )
    state = await world.saga_state(response.json()["publishId"])
    run.expect("the build fails cleanly: compensated", state == "compensated", state)
    run.expect("draft back to approved", down["state"] == "approved", down["state"])

    # 4 s per failing attempt: cut by the 10 s budget.
    await world.draft("slow", manifest)
    t2 = run.clock.now()
    async with run.fault(Failure("asset.fetch")), run.fault(Latency("asset.fetch", delay=4)):
        await world.publish("slow")
        await run.wait(15)
    call = first_call(run, "asset.fetch", t2)
    run.expect(
        "the slow variant is cut inside 10 s",
        call["gave_up"] is not None and call["gave_up"] - call["start"] <= 10,
        str(call),
    )
