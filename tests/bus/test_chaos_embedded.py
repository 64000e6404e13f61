"""content.chaos.2 on the embedded bus, in virtual time: 10,000 events are produced while
10% of publishes and 10% of deliveries are dropped for 2 minutes. Afterwards every event
was handled exactly once (through the inbox), in order per aggregate, none lost."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry

from mitigate.bus.consumer import Consumer
from mitigate.bus.inproc import InprocBus
from mitigate.bus.port import ConsumerSpec, Message
from mitigate.chaos import Drop, FaultInjector
from mitigate.clock import VirtualClock
from mitigate.durable.inbox import Inbox
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Tx
from mitigate.observe.observers import Recorder
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry

EVENTS = 10_000
AGGREGATES = 50
BATCH = 100  # events per producer transaction, one transaction every 2 s


async def test_drop_10_percent_for_2_minutes_loses_nothing_and_handles_each_event_once(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "chaos.db", durability="normal", clock=clock)
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (aggregate TEXT, seq INTEGER)")
    recorder = Recorder()
    injector = FaultInjector(clock=clock, random=random.Random(2).random)
    bus = InprocBus(store, injector=injector, ack_timeout=5.0, observers=[recorder])
    outbox = Outbox(store)
    relay = Relay(
        outbox,
        bus,
        policy=Pipeline("bus.publish", Retry(3, base=0.5, cap=4.0), clock=clock),
        idle=0.5,
        concurrency=4,
        registry=CollectorRegistry(),
    )
    inbox = Inbox(store, "catalog")
    handled_order: dict[str, list[int]] = defaultdict(list)

    @inbox.handler
    async def apply(message: Message, tx: Tx) -> None:
        aggregate, seq = message.payload.decode().split(":")
        await tx.execute("INSERT INTO effects VALUES (?, ?)", (aggregate, int(seq)))
        handled_order[aggregate].append(int(seq))

    consumer = Consumer(
        bus,
        ConsumerSpec("catalog", "content.>", ack_wait=30.0),
        apply,
        retry=Retry(5, base=1.0),
        injector=injector,
        batch=200,
        observers=[recorder],
    )
    await consumer.start()
    injector.add(Drop("bus.publish", rate=0.1, duration=120.0))
    injector.add(Drop("bus.deliver", rate=0.1, duration=120.0))
    relay_task = asyncio.create_task(relay.run())
    consumer_task = asyncio.create_task(consumer.run())

    seq: dict[str, int] = defaultdict(int)
    for start in range(0, EVENTS, BATCH):
        async with store.transaction() as tx:
            for n in range(start, start + BATCH):
                aggregate = f"a{n % AGGREGATES}"
                payload = f"{aggregate}:{seq[aggregate]}"
                seq[aggregate] += 1
                await outbox.enqueue(tx, "content.built", payload, key=aggregate, msg_id=f"e{n}")
        outbox.notify()
        await clock.asleep(2.0)
    assert clock.now() >= 200.0  # production outlasted the 2-minute fault window

    for _ in range(200):  # wait (in virtual time) until everything is through
        if await inbox.handled() == EVENTS:
            break
        await clock.asleep(5.0)
    relay.stop()
    consumer.stop()
    await asyncio.gather(relay_task, consumer_task)

    dropped = [i.target for i in injector.injections]
    assert dropped.count("bus.publish") > 100 and dropped.count("bus.deliver") > 100
    assert all(i.at <= 120.0 for i in injector.injections)  # the window held
    rows = await store.fetch(
        "SELECT COUNT(*), COUNT(DISTINCT aggregate || ':' || seq) FROM effects"
    )
    assert rows[0] == (EVENTS, EVENTS)  # every event once: none lost, none twice
    assert await outbox.counts() == {"pending": 0, "sent": EVENTS, "dead": 0}
    for aggregate, seqs in handled_order.items():
        assert seqs == list(range(seq[aggregate])), aggregate  # order per aggregate kept
    assert recorder.count("fault.injected") == len(injector.injections)
    await store.aclose()
