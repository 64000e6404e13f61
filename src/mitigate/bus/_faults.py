"""Fault hooks inside the bus adapters: where chaos drops a publish or a delivery.

The adapters ask an :class:`~mitigate.policy.injection.Injector` about each message at the
named targets ``bus.publish`` (the message never reaches the broker), ``bus.deliver``
(the consumer never sees the delivery, so the broker redelivers it after ``ack_wait``) and
``bus.ack`` (the handler ran but the ack is lost). Each fault is one ``FaultInjected``
event when someone observes.
"""

from __future__ import annotations

from mitigate.observe.events import FaultInjected
from mitigate.observe.observers import Observers
from mitigate.policy.injection import FaultDecision, Injector

__all__ = ["ACK", "DELIVER", "PUBLISH", "ask"]

PUBLISH = "bus.publish"
DELIVER = "bus.deliver"
ACK = "bus.ack"


def ask(
    injector: Injector | None, target: str, now: float, observers: Observers, detail: str
) -> FaultDecision | None:
    """The fault acting on one message at ``target``, reported as an event; or ``None``."""
    if injector is None:
        return None
    decision = injector.decide(target, now)
    if decision is not None and observers:
        observers.emit(
            FaultInjected(
                target=target,
                at=now,
                fault=decision.fault,
                detail=f"{decision.describe()} ({detail})",
            )
        )
    return decision
