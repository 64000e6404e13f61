"""Errors of the message bus: the broker is away, refused a message, or a message is poison.

>>> str(BusUnavailableError("bus.publish", "no ack within 2.0s"))
'[MITIGATE.BUS.UNAVAILABLE] bus.publish: no ack within 2.0s; the broker is unreachable or slow; \
the outbox keeps the rows and the relay retries'
>>> PublishRejectedError("bus.publish", "stream limit reached", exhausted=True).exhausted
True

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import ClassVar

from mitigate.errors import MitigateError

__all__ = [
    "BusUnavailableError",
    "OutOfOrderError",
    "PoisonMessageError",
    "PublishRejectedError",
]


class BusUnavailableError(MitigateError):
    """The broker did not answer: connection down, or no publish ack in time. Transient."""

    code: ClassVar[str] = "MITIGATE.BUS.UNAVAILABLE"
    default_hint: ClassVar[str] = (
        "the broker is unreachable or slow; the outbox keeps the rows and the relay retries"
    )


class PublishRejectedError(MitigateError):
    """The broker answered and refused the message.

    ``exhausted`` marks a resource limit (stream full with discard-new, quota): transient,
    it clears when the limit is raised or consumers catch up.
    """

    code: ClassVar[str] = "MITIGATE.BUS.REJECTED"
    default_hint: ClassVar[str] = "check the stream's limits and subjects"

    def __init__(
        self,
        target: str | None,
        message: str,
        *,
        exhausted: bool = False,
        hint: str | None = None,
        runbook: str | None = None,
    ) -> None:
        self.exhausted = exhausted
        super().__init__(target, message, hint=hint, runbook=runbook)


class PoisonMessageError(MitigateError):
    """This one message can never be published or handled as it is (encoding, size, schema).

    The relay counts such failures per row and moves the row to the DLQ after the
    configured number; the rows behind it keep flowing.
    """

    code: ClassVar[str] = "MITIGATE.BUS.POISON"
    default_hint: ClassVar[str] = "repair the message, then replay it from the DLQ"


class OutOfOrderError(MitigateError):
    """A delivery came before an earlier event of its key was applied: hold it back.

    Raised by an ordered :class:`~mitigate.durable.inbox.Inbox`; the consumer runner
    redelivers the message shortly, without counting it as a failed attempt, and applies
    it anyway once it has waited ``max_hold`` seconds (the earlier event is gone).
    """

    code: ClassVar[str] = "MITIGATE.BUS.OUT_OF_ORDER"
    default_hint: ClassVar[str] = "held back until the earlier event of its key is applied"

    def __init__(self, target: str | None, message: str, *, key: str, after: int, last: int):
        self.key = key
        self.after = after
        self.last = last
        super().__init__(target, message)
