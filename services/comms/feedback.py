"""Push delivery feedback: the provider's receipts move dispatches from ``sent`` to
``delivered`` (comms.fm.2).

Each poll reads the receipts after the last one applied and reports the feedback age (how
long no receipt came while push dispatches were waiting for one) as the gauge
``comms_push_feedback_age_seconds``. Past ``stale_after`` the feed is force-refreshed
(a new subscription, read from the start: applying a receipt twice changes nothing) and
dispatches still waiting are marked ``unknown``; a late receipt still moves ``unknown``
to ``delivered``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Gauge

import mitigate
from services.kit.http import Remote

__all__ = ["AGE_METRIC", "FeedbackRefreshed", "PushFeedback"]

AGE_METRIC = "comms_push_feedback_age_seconds"
log = logging.getLogger("services.comms.feedback")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackRefreshed(mitigate.Event):
    """The push feedback feed was stale and was read again on a new subscription."""

    name: ClassVar[str] = "comms.push_feedback_refreshed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    age: float = 0.0


class PushFeedback:
    def __init__(
        self, runtime: Any, remote: Remote, *, project: str, stale_after: float, detector: Any
    ) -> None:
        self.runtime = runtime
        self.remote = remote
        self.project = project
        self.stale_after = stale_after
        self.detector = detector
        self.clock = runtime.clock
        self.store = runtime.store
        self.cursor = 0
        self.last_feedback = self.clock.now()
        self.refreshing = False
        self.gauge = Gauge(AGE_METRIC, "seconds without push feedback", registry=runtime.registry)

    def _on(self, switch: str) -> bool:
        return bool(self.runtime.switches.enabled(switch))

    async def _read(self, *, after: int, subscribe: bool) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"after": after}
        if subscribe:
            params["subscribe"] = "1"
        body = await self.remote.request(
            "push.feedback", "GET", f"/v1/projects/{self.project}/receipts", params=params
        )
        return list((body or {}).get("receipts") or [])

    async def _apply(self, receipts: list[dict[str, Any]]) -> None:
        now = self.clock.now()
        for receipt in receipts:
            if receipt.get("status") == "delivered":
                await self.store.execute(
                    "UPDATE comms_dispatches SET state = 'delivered', updated_at = ?"
                    " WHERE channel = 'push' AND provider_id = ? AND state IN ('sent', 'unknown')",
                    (now, str(receipt["name"])),
                )
            self.cursor = max(self.cursor, int(receipt["seq"]))
        if receipts:
            self.last_feedback = now

    async def poll(self) -> float:
        """Read and apply new receipts; refresh and mark stale dispatches when the feed is
        stale. Returns the feedback age it reported."""
        await self._apply(await self._read(after=self.cursor, subscribe=False))
        now = self.clock.now()
        waiting = await self.store.fetch(
            "SELECT COUNT(*) FROM comms_dispatches WHERE channel = 'push' AND state = 'sent'"
        )
        if not int(waiting[0][0]):
            self.last_feedback = now  # nothing is owed a receipt: the feed is not stale
        age = float(now - self.last_feedback)
        self._report(age)  # the age as found, before anything cures it: the alert sees it
        if age > self.stale_after and self._on("comms.switch.push-feedback-refresh"):
            if not self.refreshing:
                self.runtime.emit(FeedbackRefreshed(target="push.feedback", at=now, age=age))
            self.refreshing = True
            await self._apply(await self._read(after=0, subscribe=True))
            age = float(self.clock.now() - self.last_feedback)
        else:
            self.refreshing = False
        if age > self.stale_after and self._on("comms.switch.push-stale-unknown"):
            await self.store.execute(
                "UPDATE comms_dispatches SET state = 'unknown', updated_at = ?,"
                " reason = 'no delivery feedback in time' WHERE channel = 'push'"
                " AND state = 'sent' AND updated_at <= ?",
                (now, now - self.stale_after),
            )
        if age <= self.stale_after:
            self.refreshing = False
        self._report(age)
        return age

    def _report(self, age: float) -> None:
        self.gauge.set(age)
        if self.detector is not None:
            self.detector.report(AGE_METRIC, age)

    async def run(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except Exception:  # the feed or the store failed this time: next poll retries
                log.exception("push feedback poll failed")
            await self.clock.asleep(every)
