"""content.fm.1.7: content emits ``.built`` but the catalog does not receive it; the saga
is stuck, then completes or is compensated.

Every delivery of the built event to the catalog's consumer is dropped for (a) 6 min and
(b) 16 min. The building > 5 min alert fires after 5 min, not before. (a) the bus
redelivers until the drop ends, the catalog applies the event once and the publish
completes; (b) the 15 min saga timeout compensates (package discarded, draft approved)
and the late event changes nothing. The outbox never loses a row.
"""

from __future__ import annotations

from services.content.harness import open_world, redelivery_bus
from services.content.testbed import alerts, expect_detection

from mitigate.chaos import Drop, Failure, FaultContext, Run, experiment

STUCK_AFTER = 5 * 60


@experiment("content.fm.1.7", failure_modes=["content.fm.1.7"])
async def built_event_lost(run: Run) -> None:
    world = await open_world(run, **redelivery_bus(run))
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("warm", manifest)
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")
    catalog = world.content.fake_catalog
    assert catalog is not None
    outbox = world.content.publisher.outbox

    # (a) 6 minutes without deliveries; the steps before meet transient failures too (a
    # saga step and the catalog call, each retried), and after the drop one ack is lost, so
    # the catalog sees the event twice and applies it once.
    await world.draft("a", manifest)
    t0 = run.clock.now()
    await run.inject(Failure("publish.step", times=1), duration=60)
    await run.inject(Failure("catalog.register", times=1), duration=60)
    await run.inject(Drop("bus.deliver"), duration=6 * 60)
    lost: list[float] = []

    def first_ack_after_the_drop(ctx: FaultContext) -> bool:
        lost.append(ctx.now)
        return len(lost) == 1

    await run.inject(Drop("bus.ack", start=6 * 60, when=first_ack_after_the_drop), duration=8 * 60)
    response = await world.publish("a")
    ledger = await _watch_outbox(run, world, outbox, until=t0 + 4 * 60)
    a = await world.settle("a", every=10)
    stuck = [e for e in alerts(run, "content.rule.saga-building") if e.at >= t0]
    run.expect(
        "(a) the saga-building rule fires after 5 min, not before",
        bool(stuck) and STUCK_AFTER <= stuck[0].at - t0 <= STUCK_AFTER + 60,
        f"{[round(e.at - t0) for e in stuck]}",
    )
    run.expect("(a) the publish completes once deliveries resume", a["state"] == "published")
    live = await catalog.get(a["packageId"])
    run.expect(
        "(a) the catalog applied the event once",
        live is not None and live["status"] == "live" and live["builtEvents"] == 1,
        str(live),
    )
    await run.wait(90)  # the lost ack: the bus redelivers after its 30 s ack wait
    repeats = await catalog.inbox.duplicates()
    run.expect("(a) the repeated delivery was caught by the inbox", repeats >= 1, str(repeats))
    again = await catalog.get(a["packageId"])
    run.expect(
        "(a) still applied once after the repeat",
        again is not None and again["builtEvents"] == 1,
        str(again),
    )
    run.expect(
        "(a) the transient step and catalog failures were retried",
        bool(run.recorder.named("retry.scheduled", "publish.step"))
        and bool(run.recorder.named("retry.scheduled", "catalog.register")),
    )
    state = await world.saga_state(response.json()["publishId"])
    run.expect("(a) saga completed", state == "completed", state)
    run.expect("outbox rows = published + pending at every sample", ledger, str(ledger))

    # (b) 16 minutes without deliveries: the 15 min timeout compensates.
    await world.draft("b", manifest)
    t1 = run.clock.now()
    await run.inject(Drop("bus.deliver"), duration=16 * 60)
    response = await world.publish("b")
    b = await world.settle("b", every=10)
    took = run.clock.now() - t1
    state = await world.saga_state(response.json()["publishId"])
    run.expect("(b) compensated by the 15 min timeout", state == "compensated", state)
    run.expect("(b) at 15 min", 15 * 60 <= took <= 15 * 60 + 30, f"{took}s")
    run.expect("(b) draft back to approved", b["state"] == "approved", b["state"])
    leftovers = [k for k in await world.objects() if b["packageId"] in k]
    run.expect("(b) package discarded", leftovers == [], str(leftovers))
    await run.wait(3 * 60)  # the drop ends at 16 min; the late event arrives
    late = await catalog.get(b["packageId"])
    run.expect(
        "(b) the late built event arrives and changes nothing",
        late is not None and late["builtEvents"] == 1 and late["status"] == "withdrawn",
        str(late),
    )
    after = await world.http.get("/v1/drafts/b")
    run.expect("(b) the draft stays approved", after.json()["state"] == "approved")
    counts = await outbox.counts()
    run.expect("no outbox row lost", counts.get("dead", 0) == 0, str(counts))
    expect_detection(run, "content.fm.1.7")


async def _watch_outbox(run: Run, world, outbox, *, until: float) -> bool:
    """Sample the outbox each 30 s: every enqueued row is either sent or still pending."""
    ok = True
    while run.clock.now() < until:
        counts = await outbox.counts()
        total = sum(counts.values())
        ok = ok and total == counts.get("pending", 0) + counts.get("sent", 0)
        await run.wait(30)
    return ok
