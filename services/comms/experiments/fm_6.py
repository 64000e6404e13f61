"""comms.fm.6: the bus is black-holed for 45 s; the outbox keeps the events."""

from __future__ import annotations

import asyncio
import json

from services.comms.harness import alerts, open_world
from services.comms.outbox_events import DISPATCH_STATE

import mitigate
from mitigate.chaos import Failure, Run, experiment

RULE = "comms.rule.outbox-lag"


@experiment("comms.fm.6", failure_modes=["comms.fm.6"])
async def nats_unavailable(run: Run) -> None:
    """Dispatches keep being sent while every publish to the bus fails for 45 s
    (embedded variant: the in-process bus on the run's clock). The lag rule fires once
    the oldest row passes 30 s; after the bus returns, the relay publishes every event,
    in order per dispatch; published = written, each once by message id."""
    world = await open_world(run)
    bus = world.comms.runtime.bus
    seen: list[mitigate.Message] = []

    async def collect(message: mitigate.Message) -> None:
        seen.append(message)

    reader = mitigate.Consumer(
        bus,
        mitigate.ConsumerSpec("experiment-reader", DISPATCH_STATE),
        collect,
        clock=run.clock,
    )
    task = asyncio.create_task(reader.run())
    run.rollback(task.cancel)
    run.rollback(reader.stop)

    async with run.fault(Failure("bus.publish", error=mitigate.BusUnavailableError), duration=45):
        ids = []
        for n in range(6):
            sent = await world.dispatch(
                category="reminders",
                channel="sms",
                template="appointment-reminder",
                to=f"+1555600{n}",
                vars={"when": "Monday 10:00"},
            )
            ids.append(sent["id"])
            await run.wait(5)
        await world.settle(ids)
    fired = alerts(run, RULE)
    run.expect("the lag rule fired past 30 s", bool(fired), str([a.value for a in fired]))
    if fired:
        run.detected(RULE)
    await run.wait(90)  # the relay's backoff ends; it publishes the outbox
    written = (await world.comms.events.outbox.counts()) if world.comms.events else {}
    got = [json.loads(m.payload) for m in seen]
    per_dispatch = {i: [g["state"] for g in got if g["dispatch"] == i] for i in ids}
    run.expect(
        "every dispatch's events arrived, in order",
        all(states == ["sent"] for states in per_dispatch.values()),
        str(per_dispatch),
    )
    run.expect(
        "each once by message id",
        len({m.id for m in seen}) == len(seen) == len(ids),
        str(len(seen)),
    )
    run.expect("nothing left in the outbox", written.get("pending", 0) == 0, str(written))
    run.mitigated("outbox retained the events; the relay published them after recovery")
