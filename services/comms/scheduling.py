"""Scheduling events: an appointment booked elsewhere gets its virtual session here
(comms.fm.18).

The bus delivers at least once: an ack lost on the way brings the event back after
``ack_wait``. The consumer's inbox records each message id once (a redelivery is counted
as ``inbox.duplicate`` and changes nothing); behind it, the unique ``(tenant,
appointment_id)`` of the appointments table stops a second session even without the
inbox (``comms.appointment_duplicate``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["BOOKED", "AppointmentDuplicate", "Scheduling"]

BOOKED = "comms.inbound.appointment-booked.v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentDuplicate(mitigate.Event):
    name: ClassVar[str] = "comms.appointment_duplicate"
    appointment: str = ""


class Scheduling:
    def __init__(self, runtime: Any, *, inbox_switch: str, use_inbox: bool = True) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.inbox_switch = inbox_switch
        self.use_inbox = use_inbox  # a deployment may run without it (the variant)
        self.inbox = mitigate.Inbox(
            runtime.store, "comms-scheduling", clock=runtime.clock, observers=runtime.observers
        )

    async def _schedule(self, message: mitigate.Message, tx: Any) -> None:
        body = json.loads(message.payload)
        tenant, appointment = str(body["tenant"]), str(body["appointmentId"])
        added = await tx.execute(
            "INSERT INTO comms_appointments (tenant, appointment_id, patient, session_id, at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, appointment_id) DO NOTHING",
            (
                tenant,
                appointment,
                str(body["patient"]),
                f"s-{uuid.uuid4().hex[:16]}",
                self.clock.now(),
            ),
        )
        if not added:
            self.runtime.emit(
                AppointmentDuplicate(
                    target="scheduling.appointments", at=self.clock.now(), appointment=appointment
                )
            )

    async def handle(self, message: mitigate.Message) -> None:
        if self.use_inbox and self.runtime.switches.enabled(self.inbox_switch):
            await self.inbox.handler(self._schedule)(message)
            return
        async with self.store.transaction() as tx:
            await self._schedule(message, tx)

    def consumer(self) -> mitigate.Consumer:
        rt = self.runtime
        spec = mitigate.ConsumerSpec("comms-scheduling", rt.settings.subject(BOOKED), ack_wait=30.0)
        return mitigate.Consumer(
            rt.bus,
            spec,
            self.handle,
            dead_letters=mitigate.DeadLetters(rt.store, clock=rt.clock, observers=rt.observers),
            clock=rt.clock,
            observers=rt.observers,
            injector=rt.injector,
        )

    async def appointments(self, tenant: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT appointment_id, patient, session_id FROM comms_appointments WHERE tenant = ?"
            " ORDER BY appointment_id",
            (tenant,),
        )
        return [{"appointmentId": a, "patient": p, "sessionId": s} for a, p, s in rows]
