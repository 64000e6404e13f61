"""content.chaos.2: 10 % of bus messages dropped for 2 min while 10 000 built events are
written (publishes, deliveries and acks each lose 10 %). Unacknowledged publishes are
re-sent from the outbox, unacknowledged deliveries are redelivered, and the catalog's
consumer applies each event exactly once (its inbox holds the duplicates), in order per
aggregate.

The 10 000 events enter through the service's outbox, as the publish saga writes them (one
transaction per batch); a real publish over the API runs first. In virtual time the drops
are the bus's fault points; on the real clock with NATS (`--real-time --backend
postgres+nats+redis`) the service's NATS connection runs through the fault proxy with
NATS framing, which drops whole protocol messages on the wire, and the server's own
ack_wait brings deliveries back.
"""

from __future__ import annotations

from services.content.harness import nats_through_proxy, open_world
from services.content.publish import BUILT_SUBJECT

from mitigate.chaos import Drop, Run, experiment

EVENTS = 10_000
AGGREGATES = 50


@experiment("content.chaos.2", failure_modes=["content.fm.1.7"])
async def drop_ten_percent(run: Run) -> None:
    overrides, nats_link = await nats_through_proxy(run)
    world = await open_world(run, **overrides)
    world.asset("index.html", b"<p>lesson</p>")
    await world.draft("warm", world.manifest(["index.html"]))
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")
    catalog = world.content.fake_catalog
    assert catalog is not None
    outbox = world.content.publisher.outbox
    store = world.content.runtime.store
    subject = world.content.runtime.settings.subject(BUILT_SUBJECT)
    before = len(await catalog.applied())

    t0 = run.clock.now()
    if nats_link is not None:
        nats_link.drop(0.1, duration=120)
    else:
        await run.inject(Drop("bus.publish", rate=0.1), duration=120)
        await run.inject(Drop("bus.deliver", rate=0.1), duration=120)
        await run.inject(Drop("bus.ack", rate=0.1), duration=120)  # handled, ack lost: a repeat
    per_batch = EVENTS // 40
    for batch in range(40):  # 10 000 events over the 2 min
        async with store.transaction() as tx:
            for i in range(batch * per_batch, (batch + 1) * per_batch):
                aggregate = f"draft-{i % AGGREGATES}"
                payload = {"packageId": f"load-{i}", "draftId": aggregate, "seq": i}
                await outbox.enqueue(tx, subject, payload, key=aggregate, msg_id=f"ev-{i}")
                run.ledger.sent(f"ev-{i}")
        outbox.notify()
        await run.wait(3)

    await run.expect_event("fault.injected", target="bus.publish", within=10)
    await run.expect_event("fault.injected", target="bus.deliver", within=10, detection=False)

    async def drained() -> bool:
        return len(await catalog.applied()) - before >= EVENTS

    await run.recovered("every event applied", drained, within=10 * 60, every=5)
    applied = (await catalog.applied())[before:]
    for _, msg_id, _, _ in applied:
        run.ledger.received(msg_id)
    run.expect_no_loss()
    orders: dict[str, list[int]] = {}
    for _, msg_id, aggregate, _ in applied:
        orders.setdefault(aggregate or "", []).append(int(msg_id.split("-")[1]))
    run.expect(
        "order per aggregate kept",
        all(seq == sorted(seq) for seq in orders.values()),
        f"{sum(seq != sorted(seq) for seq in orders.values())} aggregates out of order",
    )
    duplicates = await catalog.inbox.duplicates()
    dropped = len([e for e in run.recorder.named("fault.injected") if e.at >= t0])
    run.expect("drops happened", dropped > 0, f"{dropped} drops")
    run.expect("the inbox caught the redelivered repeats", duplicates > 0, f"{duplicates}")
