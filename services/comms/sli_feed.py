"""Live SLIs for the error budget (comms.budget.1): what the dispatcher finishes, counted
and handed to :class:`~services.comms.budget.ErrorBudgets` as a batch every minute.

- dispatch success: a dispatch that ends ``sent`` (or ``bounced``: the provider took it,
  the mailbox refused it, which is no failure of the service) is good; one that ends
  ``failed`` is bad.
- send latency: a dispatch sent within ``latency_objective`` seconds of being accepted
  is good (60 s, a catalog choice: the seed gives no number), a later one bad.

Counting is in memory (one addition per dispatch); a flush that fails keeps its counts
for the next one, so no sample is lost to a store hiccup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

__all__ = ["SliFeed"]

log = logging.getLogger("services.comms.sli")
GOOD_END = frozenset({"sent", "bounced"})
BAD_END = frozenset({"failed"})


class SliFeed:
    def __init__(self, budgets: Any, *, latency_objective: float, every: float) -> None:
        self.budgets = budgets
        self.latency_objective = latency_objective
        self.every = every
        self.counts: Counter[tuple[str, str]] = Counter()  # (slo, good|bad)
        self.flushed = 0

    def finished(self, state: str, waited: float) -> None:
        """A dispatch reached ``state`` ``waited`` seconds after it was accepted."""
        if state in GOOD_END:
            self.counts["dispatch-success", "good"] += 1
        elif state in BAD_END:
            self.counts["dispatch-success", "bad"] += 1
        else:
            return  # not an end (queued again, held)
        if state == "sent":
            verdict = "good" if waited <= self.latency_objective else "bad"
            self.counts["send-latency", verdict] += 1

    async def flush(self) -> int:
        """Hand the counts so far to the budget, one batch per SLO; returns the samples."""
        taken, self.counts = self.counts, Counter()
        handed = 0
        try:
            for slo in ("dispatch-success", "send-latency"):
                good, bad = taken[slo, "good"], taken[slo, "bad"]
                if good + bad:
                    await self.budgets.record(slo, good, bad)
                    handed += good + bad
                del taken[slo, "good"], taken[slo, "bad"]  # handed: not kept again
        except Exception:
            self.counts.update(taken)  # what was not handed goes with the next flush
            raise
        self.flushed += handed
        return handed

    async def run(self, stop: asyncio.Event, clock: Any) -> None:
        try:
            while not stop.is_set():
                await clock.asleep(self.every)
                try:
                    await self.flush()
                except Exception:
                    log.exception("SLI flush failed; the counts are kept for the next one")
        finally:  # stopping: what was counted since the last flush is handed too
            with contextlib.suppress(Exception):
                await self.flush()
