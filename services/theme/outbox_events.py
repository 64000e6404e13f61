"""The events the theme service publishes (``theme.published.v1`` after each publication
flip), written to the outbox in the flip's own transaction and published by the relays.

The bus is wrapped so that a publish the broker refuses for a resource limit (a stream at
its ``max_msgs`` with discard-new: the seed's Pub/Sub quota) is classified and counted as
``theme.bus_exhausted`` (theme.fm.2.22); the relay keeps the rows and backs off until the
limit is raised. Without the outbox (its switch off) the event is published straight to
the bus after the commit and lost when the bus refuses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter

import mitigate

from .audit import report

__all__ = ["PUBLISHED", "BusExhausted", "ExhaustedBus", "ThemeEvents"]

PUBLISHED = "theme.published.v1"
SW_OUTBOX = "theme.switch.outbox"
RELAY = "outbox.relay"
log = logging.getLogger("services.theme.events")


@dataclass(frozen=True, slots=True, kw_only=True)
class BusExhausted(mitigate.Event):
    """The broker refused publishes for a resource limit (quota, stream full)."""

    name: ClassVar[str] = "theme.bus_exhausted"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    refused: int = 0
    reason: str = ""


class ExhaustedBus:
    """The service's bus: the real one, with resource-exhausted refusals classified."""

    def __init__(
        self, bus: Any, runtime: Any, *, relay: str = "", published: Counter | None = None
    ) -> None:
        self.inner = bus
        self.rt = runtime
        self.relay = relay
        self.published = published

    def _classify(self, outcomes: Sequence[BaseException | None]) -> None:
        refused = [
            o
            for o in outcomes
            if isinstance(o, mitigate.PublishRejectedError) and getattr(o, "exhausted", False)
        ]
        if refused:
            reason = str(refused[0])
            log.error("bus refused %d publishes: resource exhausted (%s)", len(refused), reason)
            report(
                self.rt,
                BusExhausted(
                    target="bus.publish",
                    at=self.rt.clock.now(),
                    refused=len(refused),
                    reason=reason,
                ),
            )

    async def publish(self, message: mitigate.Message) -> None:
        try:
            await self.inner.publish(message)
        except mitigate.PublishRejectedError as err:
            self._classify([err])
            raise

    async def publish_many(
        self, messages: Sequence[mitigate.Message]
    ) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = await self.inner.publish_many(messages)
        self._classify(outcomes)
        if self.published is not None:
            self.published.labels(relay=self.relay).inc(sum(o is None for o in outcomes))
        return outcomes

    def __getattr__(self, name: str) -> Any:  # subscribe, aclose, ...
        return getattr(self.inner, name)


class ThemeEvents:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.outbox = mitigate.Outbox(runtime.store, clock=runtime.clock)
        self.bus = ExhaustedBus(runtime.bus, runtime)
        self.relay_counts = Counter(
            "theme_outbox_relay_published_total",
            "outbox rows each relay published (relays share the rows, never one twice)",
            ["relay"],
            registry=runtime.registry,
        )
        self.subject = runtime.settings.subject(PUBLISHED)

    async def published(
        self, tx: Any, tenant: str, theme_id: str, revision: int, sha256: str
    ) -> mitigate.Message | None:
        """Inside the flip's transaction. Returns the message to publish after the commit
        when the outbox is off (None when the outbox holds it)."""
        body = {"tenant": tenant, "theme": theme_id, "revision": revision, "sha256": sha256}
        msg_id = f"{tenant}:{theme_id}:{revision}"
        key = f"{tenant}/{theme_id}"  # one theme's events stay in order
        if self.rt.switches.enabled(SW_OUTBOX):
            await self.outbox.enqueue(tx, self.subject, body, key=key, msg_id=msg_id)
            return None
        return mitigate.Message(self.subject, json.dumps(body).encode(), id=msg_id, key=key)

    async def after_commit(self, message: mitigate.Message | None) -> None:
        if message is None:
            self.outbox.notify()
            return
        try:
            await self.bus.publish(message)
        except Exception as err:  # without the outbox nothing keeps it
            log.warning("event %s lost: %s", message.id, err)

    def relay(self, *, owner: str | None = None) -> mitigate.Relay:
        rt = self.rt
        bus: Any = ExhaustedBus(rt.bus, rt, relay=owner or "", published=self.relay_counts)
        return mitigate.Relay(
            self.outbox,
            bus,
            policy=rt.policy(RELAY),  # retries inside a round; the relay backs off between
            idle=rt.settings.poll,
            owner=owner,
            dead_letters=mitigate.DeadLetters(rt.store, clock=rt.clock, observers=rt.observers),
            registry=rt.registry,
            clock=rt.clock,
            observers=rt.observers,
        )
