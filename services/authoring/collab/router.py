"""Which collab process serves a draft: sticky by draft id, healthy ones only.

Rendezvous hashing over the process names: every client of a draft is sent to the same
process, and when that one is down (its health probe fails) to the same survivor, while
the other drafts stay where they are. The probe is also run every 5 s by the workers, so
a dead process is noticed without a client asking.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ..events import CollabProcessDown

__all__ = ["PROBE_EVERY", "CollabRouter"]

PROBE_EVERY = 5.0


class CollabRouter:
    def __init__(
        self,
        runtime: Any,
        names: Sequence[str],
        client_for: Callable[[str], httpx.AsyncClient],
    ) -> None:
        self.rt = runtime
        self.names = list(names)
        self.clients = {name: client_for(name) for name in self.names}
        self.down: set[str] = set()
        self._turn = 0
        switches = runtime.switches
        self.sticky = switches.enabled("authoring.switch.sticky-routing")
        self.probing = switches.enabled("authoring.switch.collab-health")

    def order(self, draft: str) -> list[str]:
        if not self.sticky:  # the mutation: each connection to the next process in turn
            self._turn += 1
            k = self._turn % len(self.names)
            return self.names[k:] + self.names[:k]

        def weight(name: str) -> bytes:
            return hashlib.sha256(f"{name}/{draft}".encode()).digest()

        return sorted(self.names, key=weight, reverse=True)

    async def route(self, draft: str) -> str | None:
        """The process for ``draft``; None when none is healthy."""
        for name in self.order(draft):
            if not self.probing:  # the mutation: no health probe, the first choice
                return name
            if await self.healthy(name):
                return name
        return None

    async def healthy(self, name: str) -> bool:
        try:
            response = await self.clients[name].get("/health")
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            self.down.discard(name)
        elif name not in self.down:
            self.down.add(name)
            self.rt.emit(
                CollabProcessDown(target="collab.router", at=self.rt.clock.now(), process=name)
            )
        return ok

    async def watch(self, stop: asyncio.Event) -> None:
        """Probe every process every 5 s (the workers run this)."""
        while not stop.is_set():
            if self.probing:
                for name in self.names:
                    await self.healthy(name)
            await self.rt.clock.asleep(PROBE_EVERY)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
