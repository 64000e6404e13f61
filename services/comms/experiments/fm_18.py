"""comms.fm.18: scheduling events delivered again after lost acks; one session each."""

from __future__ import annotations

import json

from services.comms.harness import alerts, open_world
from services.comms.scheduling import BOOKED

import mitigate
from mitigate.chaos import Drop, Run, experiment

HEADERS = {"x-tenant-id": "clinic-a"}


def _booked(n: int, prefix: str) -> mitigate.Message:
    body = {"tenant": "clinic-a", "appointmentId": f"{prefix}-{n}", "patient": f"p-{n}"}
    return mitigate.Message(BOOKED, json.dumps(body).encode(), id=f"{prefix}-msg-{n}")


@experiment("comms.fm.18", failure_modes=["comms.fm.18"])
async def scheduling_redelivery(run: Run) -> None:
    """Acks of 10 booked-appointment events are lost: each is delivered again after the
    30 s ack wait; the inbox records the duplicates; every appointment has exactly one
    session. Variant: the same with the inbox off: the unique (tenant, appointment_id)
    still stops every duplicate."""
    for inbox in (True, False):
        world = await open_world(run, scheduling_inbox=inbox)
        bus = world.comms.runtime.bus
        prefix = "a" if inbox else "b"
        async with run.fault(Drop("bus.ack", times=10)):
            for n in range(10):
                await bus.publish(_booked(n, prefix))
            await run.wait(120)  # past the 30 s ack wait: the events come back
        listed = (await world.http.get("/v1/appointments", headers=HEADERS)).json()
        ids = sorted(a["appointmentId"] for a in listed)
        run.expect(
            f"one session per appointment ({'with' if inbox else 'without'} the inbox)",
            ids == sorted(f"{prefix}-{n}" for n in range(10))
            and len({a["sessionId"] for a in listed}) == 10,
            str(ids),
        )
        redelivered = [
            e
            for e in run.recorder.named("inbox.duplicate")
            if getattr(e, "msg_id", "").startswith(prefix)
        ]
        stopped = [
            e
            for e in run.recorder.named("comms.appointment_duplicate")
            if getattr(e, "appointment", "").startswith(prefix)
        ]
        if inbox:
            run.expect(
                "the inbox recorded the redeliveries", len(redelivered) >= 10, str(len(redelivered))
            )
            fired = alerts(run, "comms.rule.scheduling-redelivered")
        else:
            run.expect(
                "the unique key stopped every duplicate", len(stopped) >= 10, str(len(stopped))
            )
            fired = alerts(run, "comms.rule.appointment-duplicate")
        run.expect("alerted", bool(fired))
        if fired:
            run.detected(fired[0].rule)
    run.mitigated("inbox dedupe; unique (tenant, appointment_id)")
