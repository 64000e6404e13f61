"""The message bus: a port with two adapters, and the consumer runner.

* :mod:`mitigate.bus.inproc`: durable, on the mitigate store (SQLite or PostgreSQL); the
  embedded default.
* :mod:`mitigate.bus.nats`: NATS JetStream (needs the ``nats`` extra).

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mitigate.bus.errors import (
    BusUnavailableError,
    OutOfOrderError,
    PoisonMessageError,
    PublishRejectedError,
)
from mitigate.bus.port import Bus, ConsumerSpec, Delivery, Message, Subscription

if TYPE_CHECKING:
    from mitigate.bus.nats import NatsBus

__all__ = [
    "Bus",
    "BusUnavailableError",
    "ConsumerSpec",
    "Delivery",
    "Message",
    "NatsBus",
    "OutOfOrderError",
    "PoisonMessageError",
    "PublishRejectedError",
    "Subscription",
]


def __getattr__(name: str) -> Any:
    # NATS is an optional extra: import nats-py only when asked for.
    if name == "NatsBus":
        from mitigate.bus.nats import NatsBus

        return NatsBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
