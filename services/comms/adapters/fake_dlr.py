"""A provider's delivery-receipt callbacks, as a fake sender: it calls the service's
``POST /v1/receipts/{provider}`` at a set rate, sends each receipt ``copies`` times (the
retries of a provider that does not trust its own deliveries) and, like real providers,
sends a refused callback (429) again after its Retry-After."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

import httpx

__all__ = ["CallbackSender"]


class CallbackSender:
    def __init__(self, provider: str, http: httpx.AsyncClient, clock: Any) -> None:
        self.provider = provider
        self.http = http
        self.clock = clock
        self.sent = 0
        self.refused = 0

    async def run(self, receipts: list[dict[str, str]], *, rate: float, copies: int = 1) -> None:
        """Send until every copy of every receipt was accepted."""
        fresh = deque(r for r in receipts for _ in range(copies))
        later: list[tuple[float, int, dict[str, str]]] = []  # (due, order, receipt)
        order = 0
        while fresh or later:
            now = self.clock.now()
            if later and later[0][0] <= now:
                receipt = heapq.heappop(later)[2]
            elif fresh:
                receipt = fresh.popleft()
            else:
                await self.clock.asleep(later[0][0] - now)
                continue
            answer = await self.http.post(f"/v1/receipts/{self.provider}", json=receipt)
            self.sent += 1
            if answer.status_code == 429:
                self.refused += 1
                order += 1
                wait = float(answer.headers.get("retry-after", "1"))
                heapq.heappush(later, (now + wait, order, receipt))
            await self.clock.asleep(1.0 / rate)
