"""comms.fm.9: a poison row in the outbox goes to the DLQ; the relay keeps going."""

from __future__ import annotations

import asyncio
import json

from services.comms.harness import alerts, open_world
from services.comms.outbox_events import DISPATCH_STATE

import mitigate
from mitigate.chaos import Run, experiment

RULE = "comms.rule.poison-event"


@experiment("comms.fm.9", failure_modes=["comms.fm.9"])
async def outbox_poison(run: Run) -> None:
    """A row written by an older version (schema drift: no ``tenant``, no ``at``) sits in
    the outbox ahead of newer events of the same dispatch. The relay fails to encode it
    three times, moves it to the DLQ with its id, stays up, and publishes the rows behind
    it in order; the poison row is kept in the DLQ for repair."""
    world = await open_world(run)
    events = world.comms.events
    assert events is not None
    store = world.comms.runtime.store
    seen: list[mitigate.Message] = []

    async def collect(message: mitigate.Message) -> None:
        seen.append(message)

    reader = mitigate.Consumer(
        world.comms.runtime.bus,
        mitigate.ConsumerSpec("experiment-reader", DISPATCH_STATE),
        collect,
        clock=run.clock,
    )
    task = asyncio.create_task(reader.run())
    run.rollback(task.cancel)
    run.rollback(reader.stop)

    label = "a drifted row in the outbox"
    run.timeline.window(run.clock.now(), None, label)
    async with store.transaction() as tx:
        poison = await events.outbox.enqueue(
            tx, events.subject, {"dispatch": "d-old", "state": "sent"}, key="d-old"
        )
        for state in ("delivered", "read"):
            await events.dispatch_state(tx, "d-old", "clinic-a", state)
    behind = [
        await world.dispatch(
            category="reminders",
            channel="sms",
            template="appointment-reminder",
            to=f"+1555900{n}",
            vars={"when": "Monday 10:00"},
        )
        for n in range(3)
    ]
    await world.settle([b["id"] for b in behind])
    await run.wait(120)
    run.timeline.close_window(label, run.clock.now())

    fired = alerts(run, RULE)
    run.expect("the poison row reached the DLQ and alerted", bool(fired))
    if fired:
        run.detected(RULE)
    dead = await mitigate.DeadLetters(store).entries()
    run.expect("kept in the DLQ with its id", [d.msg_id for d in dead] == [poison], str(dead))
    states = [
        json.loads(m.payload)["state"] for m in seen if json.loads(m.payload)["dispatch"] == "d-old"
    ]
    run.expect(
        "the rows behind it were published, in order", states == ["delivered", "read"], str(states)
    )
    sent = {json.loads(m.payload)["dispatch"] for m in seen}
    run.expect("other events flow on", {b["id"] for b in behind} <= sent, str(sent))
    run.mitigated("poison row moved to the DLQ; relay kept publishing")
