"""content.breaker.1: the KMS breaker, trips at 10 failures in 30 s, resets after 60 s.

Through publishes over the HTTP API: 9 signing failures in 30 s leave it closed; the 10th
inside 30 s opens it; 10 failures spread over more than 30 s leave it closed; while open,
signing fails fast and the key ring sees no call; 60 s later one probe decides (ok: closed;
failing: open for another 60 s). Then two workers share the state through Redis: once
worker A's breaker opens, worker B (its own pipelines, as a second process has) fails
fast at once, and its key ring sees none of its calls."""

from __future__ import annotations

from services.content.breaker_row import BreakerRow, check_breaker_row
from services.content.harness import (
    World,
    events_since,
    open_second_worker,
    open_world,
    with_shared_cache,
)
from services.kit.embedded_redis import paced_for_real_io

from mitigate.chaos import Failure, Run, experiment

TARGET = "kms.sign"


@experiment("content.breaker.1")
async def kms_breaker(run: Run) -> None:
    world = await open_world(run, **await with_shared_cache(run))
    world.asset("index.html", b"<p>lesson</p>")
    signer = world.content.publisher.signer
    # Nine failures land inside 30 s as 4 + 4 + 1 across the publish step's retries.
    row = BreakerRow(
        target=TARGET,
        calls=lambda: signer.calls,
        fail_fast="while open, signing fails fast (rejected)",
        zero_calls="while open, the key ring sees zero calls",
    )
    await check_breaker_row(run, world, row)
    await check_shared_with_a_second_worker(run, world)


async def check_shared_with_a_second_worker(run: Run, a: World) -> None:
    b = await open_second_worker(run, a)
    b.asset("index.html", b"<p>lesson</p>")
    b_breaker = b.content.runtime.policy(TARGET).breaker()
    b_signer = b.content.publisher.signer
    await run.wait(120)  # every earlier opening is long over
    run.require("B's breaker starts closed", b_breaker.state == "closed", b_breaker.state)
    t0 = run.clock.now()
    manifest = a.manifest(["index.html"])
    await a.draft("a-down", manifest)
    with paced_for_real_io(run):  # A's opening reaches B over a real socket
        async with run.fault(Failure(TARGET, times=10)):  # A's KMS calls fail
            await a.publish("a-down")
            await run.wait(20)
        opened = events_since(run, "breaker.opened", TARGET, t0)
        run.require("A's breaker opened", bool(opened))
        await run.wait(1)
    run.expect(
        "B's breaker opened from A's, through Redis",
        b_breaker.state == "open",
        f"B is {b_breaker.state}",
    )
    before = b_signer.calls
    await b.draft("b-publish", manifest)
    await b.publish("b-publish")
    await run.wait(10)
    run.expect(
        "B fails fast: its key ring sees zero calls while A's opening holds",
        b_signer.calls == before,
        f"{b_signer.calls - before} calls",
    )
    done = await b.settle("b-publish")
    run.expect("B's publish completes after the reset", done["state"] == "published", done["state"])
