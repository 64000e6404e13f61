"""Fault hooks inside the bus adapters: where chaos drops a publish or a delivery.

The adapters ask an :class:`~mitigate.policy.injection.Injector` about each message at the
named targets ``bus.publish`` (the message never reaches the broker), ``bus.deliver``
(the consumer never sees the delivery, so the broker redelivers it after ``ack_wait``) and
``bus.ack`` (the handler ran but the ack is lost). Each fault is one ``FaultInjected``
event when someone observes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mitigate.bus.errors import BusUnavailableError
from mitigate.bus.port import Message
from mitigate.observe.events import FaultInjected
from mitigate.observe.observers import Observers
from mitigate.policy.injection import NO_RESULT, FaultDecision, Injector

__all__ = ["ACK", "DELIVER", "PUBLISH", "PublishEffect", "ask", "publish_effect"]

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


@dataclass(frozen=True, slots=True)
class PublishEffect:
    """What a fault does to one publish: ``send`` is the message to send (``None``: it
    never reaches the broker), ``delay`` when it goes out or when the publisher learns
    of the failure, ``error`` the outcome of a message that was not sent."""

    send: Message | None
    delay: float
    error: BaseException | None


def publish_effect(decision: FaultDecision, message: Message, ack_timeout: float) -> PublishEffect:
    """Read a fault decision at ``bus.publish`` for one message.

    An error fails the publish after the fault's delay; a fault that answers instead of
    calling (:class:`~mitigate.chaos.Drop`) loses the message, which the publisher notices
    only when no ack comes (``ack_timeout``); a latency delays the send; a corruption
    changes the payload on the way.
    """
    if decision.error is not None:
        return PublishEffect(None, decision.delay, decision.error)
    if decision.result is not NO_RESULT:
        lost = BusUnavailableError(PUBLISH, f"no ack within {ack_timeout}s (message dropped)")
        return PublishEffect(None, max(decision.delay, ack_timeout), lost)
    if decision.corrupt is not None:
        payload = decision.corrupt(message.payload)
        if isinstance(payload, bytes):
            message = replace(message, payload=payload)
    return PublishEffect(message, decision.delay, None)
