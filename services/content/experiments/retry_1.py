"""content.retry.1: the KMS signing schedule, max 3 retries at 50 ms, 200 ms, 500 ms inside
a 1 s budget, seen through publishes over the HTTP API."""

from __future__ import annotations

from services.content.harness import first_call, open_world

import mitigate
from mitigate.chaos import Failure, Latency, Run, experiment


@experiment("content.retry.1")
async def kms_sign_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>hi</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("ok", manifest)
    await world.publish("ok")
    await run.steady("publish works", (await world.settle("ok"))["state"] == "published")
    table = mitigate.parse_retry(max="3", backoff="50ms, 200ms, 500ms", budget="1s").to_table()
    run.expect(
        "the notation parses and renders back unchanged",
        table == ("3", "50ms, 200ms, 500ms", "1s"),
        str(table),
    )

    # Fails 3 times, then signs: retries 50 ms, 200 ms, 500 ms; the 4th attempt succeeds.
    await world.draft("flaky", manifest)
    t0 = run.clock.now()
    async with run.fault(Failure("kms.sign", times=3)):
        await world.publish("flaky")
        flaky = await world.settle("flaky")
    call = first_call(run, "kms.sign", t0)
    run.expect("retries after 50, 200, 500 ms", call["delays"] == [0.05, 0.2, 0.5], str(call))
    run.expect("the 4th attempt succeeds", call["attempts"] == 4 and call["gave_up"] is None)
    run.expect("the publish completes", flaky["state"] == "published", str(flaky))

    # Always fails: 3 retries, then the signing call gives up (retry.exhausted).
    await world.draft("down", manifest)
    t1 = run.clock.now()
    async with run.fault(Failure("kms.sign")):
        await world.publish("down")
        await run.wait(2)
    call = first_call(run, "kms.sign", t1)
    run.expect("always failing: 4 attempts, then it gives up", call["attempts"] == 4, str(call))
    exhausted = [e for e in run.recorder.named("retry.exhausted", "kms.sign") if e.at >= t1]
    run.expect("the give-up is the stable retry.exhausted event", bool(exhausted))

    # Each attempt takes 400 ms and fails: the 1 s budget stops it, no attempt past it.
    await world.draft("slow", manifest)
    await run.wait(120)  # the breaker of the previous variant has closed again
    t2 = run.clock.now()
    async with run.fault(Failure("kms.sign")), run.fault(Latency("kms.sign", delay=0.4)):
        await world.publish("slow")
        await run.wait(2)
    call = first_call(run, "kms.sign", t2)
    started = call["start"]
    run.expect(
        "no attempt starts past the 1 s budget",
        started is not None and call["last_start"] - started < 1.0,
        str(call),
    )
    run.expect(
        "the call ends before 1 s",
        call["gave_up"] is not None and call["gave_up"] - started < 1.0,
        str(call),
    )
