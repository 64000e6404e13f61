"""The bus port: what the outbox relay and consumers need from a message broker.

Two adapters implement it: :mod:`mitigate.bus.inproc` (durable, on the store; the embedded
default) and :mod:`mitigate.bus.nats` (NATS JetStream). Both are at-least-once: a publish
returns once the broker has stored the message, a delivery is redelivered until it is
acknowledged, and ``dedup_id`` (``Nats-Msg-Id`` on NATS) makes a re-sent publish harmless.

>>> msg = Message("orders.created", b'{"id": 7}', id="evt-7", key="order-7")
>>> msg.dedup_id, msg.key
('evt-7', 'order-7')
>>> subject_matches("orders.*", "orders.created"), subject_matches("orders.>", "orders.a.b")
(True, True)
>>> subject_matches("orders.*", "orders.a.b")
False

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from mitigate.errors import ConfigError

__all__ = [
    "HEADER_KEY",
    "HEADER_KEY_AFTER",
    "HEADER_KEY_SEQ",
    "HEADER_MSG_ID",
    "HEADER_REPLAY_FOR",
    "Bus",
    "ConsumerSpec",
    "Delivery",
    "Message",
    "PublishOutcome",
    "Subscription",
    "subject_matches",
]

# Headers mitigate adds on the wire (NATS headers; columns on the embedded bus).
HEADER_MSG_ID = "Mitigate-Msg-Id"  # the logical id the inbox de-duplicates on
HEADER_KEY = "Mitigate-Key"  # the ordering key (aggregate)
HEADER_REPLAY_FOR = "Mitigate-Replay-For"  # a DLQ replay meant for one consumer only
# Order per key across redeliveries: the outbox row's sequence, and the sequence of the
# key's previous published row (absent for a key's first row). The relay sets both.
HEADER_KEY_SEQ = "Mitigate-Key-Seq"
HEADER_KEY_AFTER = "Mitigate-Key-After"


@dataclass(frozen=True, slots=True)
class Message:
    """One message: where it goes, its bytes, and the ids that make re-sending safe.

    ``id`` is the logical id consumers de-duplicate on (kept across DLQ replays);
    ``dedup_id`` is what the broker de-duplicates publishes on (``Nats-Msg-Id``) and
    defaults to ``id``; a replay gets a fresh one so the broker does not swallow it.
    ``key`` orders messages: the relay keeps one publish in flight per key.
    """

    subject: str
    payload: bytes
    id: str
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    dedup_id: str = ""

    def __post_init__(self) -> None:
        if not self.subject or any(c in self.subject for c in " \t\r\n"):
            raise ConfigError(
                None,
                f"invalid subject {self.subject!r}",
                hint="use dot-separated tokens without spaces",
                code="MITIGATE.CONFIG.SUBJECT",
            )
        if not self.id:
            raise ConfigError(
                self.subject,
                "a message needs an id",
                hint="pass id=...",
                code="MITIGATE.CONFIG.MESSAGE",
            )
        if not self.dedup_id:
            object.__setattr__(self, "dedup_id", self.id)

    @property
    def replay_for(self) -> str | None:
        """The consumer a DLQ replay is meant for, or ``None`` for everyone."""
        return self.headers.get(HEADER_REPLAY_FOR)


# A publish outcome per message: None when the broker stored it, else the error.
PublishOutcome = BaseException | None


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A durable consumer: its name, the subjects it reads and the broker-side timers.

    ``ack_wait`` is how long a delivery may stay unacknowledged before the broker sends
    it again. ``max_deliver`` is the broker's own cap (``None``: unlimited); the consumer
    runner moves messages to the DLQ itself, so the broker cap is only a safety net and
    must be above the runner's limit.

    >>> ConsumerSpec("billing", "orders.>").ack_wait
    30.0
    >>> ConsumerSpec("billing", "orders.>", ack_wait=0)
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.CONSUMER] billing: ack_wait must be > 0, got 0; \
give the handler time to finish
    """

    name: str
    subject: str
    ack_wait: float = 30.0
    max_deliver: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ConfigError(
                self.name or None,
                "a consumer name uses letters, digits, - and _",
                hint="rename the consumer",
                code="MITIGATE.CONFIG.CONSUMER",
            )
        if self.ack_wait <= 0:
            raise ConfigError(
                self.name,
                f"ack_wait must be > 0, got {self.ack_wait!r}",
                hint="give the handler time to finish",
                code="MITIGATE.CONFIG.CONSUMER",
            )
        if self.max_deliver is not None and self.max_deliver < 1:
            raise ConfigError(
                self.name,
                f"max_deliver must be >= 1 or None, got {self.max_deliver!r}",
                hint="use None for unlimited",
                code="MITIGATE.CONFIG.CONSUMER",
            )


class Delivery(Protocol):
    """A message handed to a consumer, to be settled exactly once."""

    @property
    def message(self) -> Message: ...

    @property
    def attempt(self) -> int:
        """How many times the broker has delivered this message, this one included."""
        ...

    async def ack(self) -> None:
        """Done: never deliver it again."""
        ...

    async def nak(self, delay: float = 0.0) -> None:
        """Failed: deliver it again after ``delay`` seconds."""
        ...

    async def term(self) -> None:
        """Give up on it (after the DLQ took it): never deliver it again."""
        ...


class Subscription(Protocol):
    """A durable consumer bound to a bus."""

    @property
    def spec(self) -> ConsumerSpec: ...

    async def fetch(self, batch: int, wait: float) -> list[Delivery]:
        """Up to ``batch`` deliveries; waits at most ``wait`` seconds for the first."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """Publish durably; consume through durable consumers."""

    async def publish(self, message: Message) -> None:
        """Return once the broker stored the message; raise a bus error otherwise."""
        ...

    async def publish_many(self, messages: Sequence[Message]) -> list[PublishOutcome]:
        """Publish a batch with pipelined acks; one outcome per message, in order.

        A message whose key already failed earlier in the same batch is not sent (its
        outcome repeats that error), so a key's order survives a partial failure.
        """
        ...

    async def subscribe(self, spec: ConsumerSpec) -> Subscription:
        """Create or bind the durable consumer ``spec.name``."""
        ...

    async def aclose(self) -> None: ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` is one or more tokens."""
    want = pattern.split(".")
    have = subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)
