"""The consumer runner: fetch, handle, ack; retry with backoff; DLQ after max deliveries.

A failing delivery is nak'ed with the next delay of the runner's
:class:`~mitigate.policy.retry.Retry` (the broker redelivers it then; other messages keep
flowing). When delivery number ``max_retries + 1`` fails too, the message moves to the
DLQ with its reason, attempts and payload and is terminated at the broker: "max 5 -> DLQ"
means 5 retries after the first delivery, 6 deliveries in all. NATS has no DLQ of its
own; this runner reads ``num_delivered`` from each delivery and does the handoff itself.
A delivery seen more than ``max_retries + 1`` times without an outcome (the handler
crashed the process, or its ack was lost each time) goes to the DLQ before the handler
runs again. A handler that raises :class:`~mitigate.bus.errors.PoisonMessageError` says
retrying cannot help: the message goes to the DLQ at once.

A handler that raises :class:`~mitigate.bus.errors.OutOfOrderError` (an ordered inbox:
an earlier event of the key is not applied yet, its delivery lost and waiting for the
broker's redelivery) is not failing: the delivery is parked, unsettled, and handled again
as soon as an event of its key is applied (no polling, no attempt counted). Past
``max_parked`` parked deliveries a held one is nak'ed for ``hold_delay`` instead. A
predecessor this runner moves to the DLQ counts as passed (the inbox records it), so
its key flows on at once. Once a delivery has been held ``max_hold`` seconds (default:
ten times the consumer's ``ack_wait``: a lost delivery comes back after one, and may be
lost again) it is applied without its predecessor, with an ``inbox.order_gap``
warning: a key never stalls.

Handlers get the :class:`~mitigate.bus.port.Message`; wrap them with
:meth:`mitigate.durable.inbox.Inbox.handler` so that repeats are dropped and the effect
commits with its dedupe record.

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable

from mitigate.bus import _faults
from mitigate.bus.errors import OutOfOrderError, PoisonMessageError
from mitigate.bus.port import (
    HEADER_KEY_AFTER,
    HEADER_KEY_SEQ,
    Bus,
    ConsumerSpec,
    Delivery,
    Message,
    Subscription,
)
from mitigate.clock import Clock, default_clock
from mitigate.durable.dlq import DeadLetters
from mitigate.errors import ConfigError
from mitigate.observe.events import InboxOrderGap, RetryScheduled
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.injection import Injector
from mitigate.policy.retry import Retry
from mitigate.runscope import run_injector, run_observers

__all__ = ["Consumer", "Handler"]

Handler = Callable[[Message], Awaitable[None]]
_log = logging.getLogger("mitigate.bus")


class Consumer:
    """Run ``handler`` over the durable consumer ``spec`` of ``bus``.

    ``retry`` gives the redelivery schedule and the limit (default: 5 retries,
    exponential from 1 s, capped at 60 s). Without ``dead_letters`` a message that
    exhausts its deliveries is terminated and logged, never silently dropped. Targets for
    chaos: ``bus.deliver`` (the handler never sees the delivery; the broker redelivers it
    after ``ack_wait``) and ``bus.ack`` (handled, but the ack is lost).
    """

    def __init__(
        self,
        bus: Bus,
        spec: ConsumerSpec,
        handler: Handler,
        *,
        retry: Retry | None = None,
        dead_letters: DeadLetters | None = None,
        batch: int = 64,
        wait: float = 1.0,
        injector: Injector | None = None,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        hold_delay: float = 1.0,
        max_hold: float | None = None,
        max_parked: int = 10_000,
    ) -> None:
        if batch < 1:
            raise ConfigError(
                spec.name, f"batch must be >= 1, got {batch}", code="MITIGATE.CONFIG.CONSUMER"
            )
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.retry = retry or Retry(5, base=1.0, cap=60.0)
        self.max_deliveries = self.retry.max_attempts
        if spec.max_deliver is not None and spec.max_deliver <= self.max_deliveries:
            raise ConfigError(
                spec.name,
                f"the broker's max_deliver ({spec.max_deliver}) must exceed the runner's"
                f" {self.max_deliveries} deliveries, or the DLQ handoff never happens",
                hint="leave max_deliver None, or raise it",
                code="MITIGATE.CONFIG.CONSUMER",
            )
        self._delays = self.retry.delays() or (0.0,)
        self.dead_letters = dead_letters
        self.batch = batch
        self.wait = wait
        self.injector = run_injector(injector)  # inside an experiment run: the run's
        self.clock = clock or getattr(bus, "clock", None) or default_clock()
        self.observers = Observers(run_observers(observers))
        self.target = spec.name
        self.hold_delay = hold_delay
        self.max_hold = 10 * spec.ack_wait if max_hold is None else max_hold
        self.max_parked = max_parked
        # Deliveries held back for order: first hold time and how many holds (not attempts).
        self._held: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0
        self._gapped: set[str] = set()  # applied without their predecessor
        # Held deliveries waiting, unsettled, for an event of their key to be applied.
        self._parked: dict[str, dict[str, Delivery]] = {}
        self._parked_count = 0
        self._subscription: Subscription | None = None
        self._running = False
        # What happened, for tests, probes and the console.
        self.handled = 0
        self.failed = 0
        self.dead_lettered = 0
        self.dropped = 0
        self.skipped = 0
        self.held = 0
        self.order_gaps = 0

    def __repr__(self) -> str:
        return f"Consumer({self.spec.name!r}, subject={self.spec.subject!r})"

    async def start(self) -> Subscription:
        """Create or bind the durable consumer (done by the first fetch otherwise)."""
        if self._subscription is None:
            self._subscription = await self.bus.subscribe(self.spec)
        return self._subscription

    async def run_once(self, wait: float | None = None) -> int:
        """Fetch one batch (waiting up to ``wait``) and settle every delivery in it."""
        subscription = await self.start()
        deliveries = await subscription.fetch(self.batch, self.wait if wait is None else wait)
        for delivery in deliveries:
            await self._one(delivery)
        await self._expire_parked()
        return len(deliveries)

    async def run(self) -> None:
        """Consume until :meth:`stop`; a broker outage is waited out with backoff."""
        self._running = True
        failures = 0
        while self._running:
            try:
                await self.run_once()
                failures = 0
            except Exception as exc:  # broker or store away: wait and try again
                failures += 1
                _log.warning("consumer %s: fetch failed: %r", self.spec.name, exc)
                await self.clock.asleep(min(30.0, 0.1 * 2 ** min(failures, 10)))

    def stop(self) -> None:
        self._running = False

    async def aclose(self) -> None:
        self.stop()
        if self._subscription is not None:
            await self._subscription.aclose()
            self._subscription = None

    # -- one delivery ------------------------------------------------------------------
    async def _one(self, delivery: Delivery) -> None:
        message = delivery.message
        attempt = delivery.attempt
        replay_for = message.replay_for
        if replay_for is not None and replay_for != self.spec.name:
            self.skipped += 1  # a DLQ replay meant for another consumer
            await self._settle(delivery.ack())
            return
        now = self.clock.now()
        if _faults.ask(self.injector, _faults.DELIVER, now, self.observers, message.id):
            self.dropped += 1  # never seen: the broker redelivers after ack_wait
            return
        held_since, holds = self._held.get(message.id, (now, 0))
        attempt -= holds  # a hold is not an attempt
        if attempt > self.max_deliveries:
            await self._dead(
                delivery,
                f"delivered {attempt} times without an outcome (ack lost or handler crashed)",
                "Undelivered",
            )
            return
        if holds and now - held_since >= self.max_hold:
            message = self._without_predecessor(message, now - held_since)
        try:
            await self.handler(message)
        except OutOfOrderError as exc:
            self.held += 1
            self._held[message.id] = (held_since, holds + 1)
            if self._parked_count < self.max_parked:
                parked = self._parked.setdefault(exc.key, {})
                self._parked_count += message.id not in parked
                parked[message.id] = delivery  # a redelivery replaces the older copy
            else:
                await self._settle(delivery.nak(self.hold_delay))
            return
        except Exception as exc:
            self.failed += 1
            if attempt >= self.max_deliveries or isinstance(exc, PoisonMessageError):
                await self._dead(delivery, f"{type(exc).__name__}: {exc}", type(exc).__name__)
                return
            delay = self._delays[min(attempt, len(self._delays)) - 1]
            if self.observers:
                self.observers.emit(
                    RetryScheduled(
                        target=self.target,
                        at=self.clock.now(),
                        attempt=attempt,
                        error=exc,
                        delay=delay,
                    )
                )
            await self._settle(delivery.nak(delay))
            return
        self.handled += 1
        # A lost ack (fault): the broker redelivers and the inbox drops the repeat.
        if not _faults.ask(
            self.injector, _faults.ACK, self.clock.now(), self.observers, message.id
        ):
            await self._settle(delivery.ack())
        if message.key is not None and message.key in self._parked:
            await self._unpark(message.key)

    async def _unpark(self, key: str) -> None:
        """Handle again what waited for an event of ``key``: the next one may fit now."""
        parked = self._parked.pop(key)
        self._parked_count -= len(parked)
        # In key order, so each one finds its predecessor applied just before it.
        for delivery in sorted(parked.values(), key=_key_seq):
            await self._one(delivery)

    async def _expire_parked(self) -> None:
        """Apply parked deliveries that have waited ``max_hold``: their predecessor is gone."""
        now = self.clock.now()
        if self._held and now >= self._next_sweep:
            # Hold counts outlive the hold: a copy redelivered while the message was
            # parked may still come, and its attempts must not count the holds. Forget
            # them once no redelivery can be that late.
            horizon = 2 * self.max_hold
            self._held = {m: h for m, h in self._held.items() if now - h[0] < horizon}
            self._gapped &= set(self._held)
            self._next_sweep = now + self.max_hold
        if not self._parked:
            return
        for key, parked in list(self._parked.items()):
            if key in self._parked and any(
                now - self._held.get(m, (now, 0))[0] >= self.max_hold for m in parked
            ):
                await self._unpark(key)

    def _without_predecessor(self, message: Message, waited: float) -> Message:
        """The held message, to be applied without its predecessor (which never came)."""
        headers = {k: v for k, v in message.headers.items() if k != HEADER_KEY_AFTER}
        message = dataclasses.replace(message, headers=headers)
        if message.id in self._gapped:
            return message  # a late copy of one applied already: the inbox drops it
        self._gapped.add(message.id)
        self.order_gaps += 1
        if self.observers:
            self.observers.emit(
                InboxOrderGap(
                    target=self.target,
                    at=self.clock.now(),
                    msg_id=message.id,
                    key=message.key or "",
                    waited=waited,
                )
            )
        _log.warning(
            "consumer %s: %s waited %.0fs for an earlier event of key %r; applying it",
            self.spec.name,
            message.id,
            waited,
            message.key,
        )
        return message

    async def _dead(self, delivery: Delivery, reason: str, error_type: str) -> None:
        message = delivery.message
        if self.dead_letters is not None:
            await self.dead_letters.add(
                message,
                source=self.spec.name,
                reason=reason,
                attempts=delivery.attempt,
                error_type=error_type,
            )
        else:
            _log.error(
                "consumer %s: gave up on %s after %d deliveries (no DLQ configured): %s",
                self.spec.name,
                message.id,
                delivery.attempt,
                reason,
            )
        self.dead_lettered += 1
        await self._settle(delivery.term())
        # An ordered inbox lets the key's next events through: this one will not come.
        passed = getattr(self.handler, "order_passed", None)
        if passed is not None and message.key is not None:
            await passed(message)
            if message.key in self._parked:
                await self._unpark(message.key)

    async def _settle(self, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:  # a lost ack means a redelivery, which the inbox absorbs
            _log.warning("consumer %s: ack/nak not sent: %r", self.spec.name, exc)


def _key_seq(delivery: Delivery) -> int:
    return int(delivery.message.headers.get(HEADER_KEY_SEQ, 0))
