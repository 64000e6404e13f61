"""The events the comms service publishes: ``comms.dispatch.state.v1`` each time a
dispatch changes state, written to the outbox in the same transaction as the change and
published by the relay (comms.fm.6, comms.fm.9).

While the bus is away the outbox keeps the rows and the relay backs off; its backlog
samples (``outbox.backlog``, oldest row's age) feed the lag rule. Before publishing, the
relay encodes each row against the event's schema: a row that does not fit (schema drift)
is poison, moved to the DLQ after ``poison_attempts`` failures while the rows behind it go
on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mitigate

__all__ = ["DISPATCH_STATE", "Events", "encode"]

DISPATCH_STATE = "comms.dispatch.state.v1"
_FIELDS = ("dispatch", "tenant", "state", "at")
log = logging.getLogger("services.comms.events")


def encode(message: mitigate.Message) -> mitigate.Message:
    """Check a row against the event's schema (v1: dispatch, tenant, state, at)."""
    body = json.loads(message.payload)
    missing = [f for f in _FIELDS if f not in body]
    if missing:
        raise ValueError(f"{message.subject} is missing {', '.join(missing)}")
    return message


class Events:
    def __init__(self, runtime: Any, *, outbox_switch: str) -> None:
        self.runtime = runtime
        self.outbox = mitigate.Outbox(runtime.store)
        self.outbox_switch = outbox_switch
        self.subject = runtime.settings.subject(DISPATCH_STATE)

    async def dispatch_state(self, tx: Any, dispatch: str, tenant: str, state: str) -> None:
        """Inside the state change's own transaction."""
        body = {
            "dispatch": dispatch,
            "tenant": tenant,
            "state": state,
            "at": self.runtime.clock.now(),
        }
        if self.runtime.switches.enabled(self.outbox_switch):
            await self.outbox.enqueue(tx, self.subject, body, key=dispatch)
            return
        # Without the outbox: publish straight to the bus, and lose the event if it is away.
        message = mitigate.Message(
            self.subject, json.dumps(body).encode(), id=f"{dispatch}:{state}"
        )
        try:
            await self.runtime.bus.publish(message)
        except Exception as exc:
            log.warning("event %s lost: %s", message.id, exc)

    def relay(self, *, max_poison: int, checked: bool = True) -> mitigate.Relay:
        rt = self.runtime
        return mitigate.Relay(
            self.outbox,
            rt.bus,
            idle=rt.settings.poll,
            sample_every=rt.settings.outbox_sample_every,
            max_poison=max_poison,
            encode=encode if checked else None,
            dead_letters=mitigate.DeadLetters(rt.store, clock=rt.clock, observers=rt.observers),
            registry=rt.registry,
            clock=rt.clock,
            observers=rt.observers,
        )
