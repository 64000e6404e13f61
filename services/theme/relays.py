"""The outbox publishers: one relay, scaled out while the backlog stays high (theme.fm.2.8).

Every ``check_every`` seconds the pool reads the outbox backlog; once it has stayed above
``scale_at`` rows for ``scale_after`` seconds (the seed's page: more than 1 000 rows for
10 min) one more relay is started, up to ``max_relays``. Relays share the outbox table:
each claims disjoint rows under its own lease, and a key's rows go out in order. When the
backlog is empty again the extra relays stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["RelayPool", "RelaysScaled"]

SW_SCALE = "theme.switch.relay-scale-out"
log = logging.getLogger("services.theme.relays")


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaysScaled(mitigate.Event):
    name: ClassVar[str] = "theme.relays_scaled"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    relays: int = 0
    backlog: int = 0


class RelayPool:
    def __init__(
        self,
        events: Any,
        *,
        max_relays: int = 3,
        scale_at: int = 1000,
        scale_after: float = 600.0,
        check_every: float = 15.0,
    ) -> None:
        self.events = events
        self.rt = events.rt
        self.max_relays = max_relays
        self.scale_at = scale_at
        self.scale_after = scale_after
        self.check_every = check_every
        self.relays: list[tuple[mitigate.Relay, asyncio.Task[None]]] = []

    def _add(self) -> None:
        relay = self.events.relay(owner=f"theme-relay-{len(self.relays) + 1}")
        self.relays.append((relay, asyncio.create_task(relay.run())))

    async def _stop(self, keep: int) -> None:
        while len(self.relays) > keep:
            relay, task = self.relays.pop()
            relay.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=None)

    async def _check(self, over_since: float | None) -> float | None:
        rows = (await self.events.outbox.backlog()).rows
        now = self.rt.clock.now()
        if rows <= self.scale_at:
            if rows == 0 and len(self.relays) > 1:
                await self._stop(1)
            return None
        since = now if over_since is None else over_since
        sustained = now - since >= self.scale_after
        can_grow = len(self.relays) < self.max_relays and self.rt.switches.enabled(SW_SCALE)
        if sustained and can_grow:
            self._add()
            log.warning("outbox backlog %d rows: %d relays now", rows, len(self.relays))
            self.rt.emit(
                RelaysScaled(target="outbox", at=now, relays=len(self.relays), backlog=rows)
            )
        return since

    async def run(self, stop: asyncio.Event) -> None:
        from .orphans import sleep_or_stop

        self._add()
        over_since: float | None = None
        try:
            while not stop.is_set():
                try:
                    over_since = await self._check(over_since)
                except Exception:  # the next check tries again
                    log.exception("relay pool check failed")
                await sleep_or_stop(self.rt.clock, self.check_every, stop)
        finally:
            await self._stop(0)
