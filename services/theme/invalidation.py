"""CDN invalidation by tag after a publish, through a durable work queue and a retrier.

The publish transaction records one purge job beside the flip; the retrier purges the
theme's tag, each attempt cut at 10 s by the ``cdn.purge`` policy. A failed attempt is
scheduled again (up to 6 attempts over 5 minutes); every failure is an event, and the
catalog's rule alerts from the 3rd on. After the 6th the job is ``failed`` and an
operator purges by hand (``POST /ops/cdn/purge``). The publish itself stays committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.runtime import Runtime

from .adapters.cdn import CdnClient

__all__ = ["DELAYS", "MAX_ATTEMPTS", "PurgeRetrier", "cache_tag", "enqueue_purge"]

log = logging.getLogger("services.theme.invalidation")
SWITCH = "theme.switch.purge-retrier"
POLICY = "cdn.purge"
MAX_ATTEMPTS = 6
# Waits between attempts: with every attempt hanging to its 10 s cut, the 6th still
# starts and ends inside 5 minutes (6 x 10 s + 240 s = 300 s).
DELAYS = (10.0, 20.0, 40.0, 70.0, 100.0)


def cache_tag(tenant: str, theme_id: str) -> str:
    return f"theme:{tenant}:{theme_id}"


async def enqueue_purge(tx: Any, tenant: str, theme_id: str, now: float) -> None:
    """Inside the publish transaction: the purge is owed exactly when the flip commits."""
    await tx.execute(
        "INSERT INTO theme_purges (id, tenant, tag, attempts, next_at, state, error)"
        " VALUES (?, ?, ?, 0, ?, 'pending', NULL)",
        (uuid.uuid4().hex, tenant, cache_tag(tenant, theme_id), now),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeAttemptFailed(mitigate.Event):
    name: ClassVar[str] = "theme.purge_attempt_failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tag: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeGaveUp(mitigate.Event):
    name: ClassVar[str] = "theme.purge_gave_up"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    tag: str = ""


class PurgeRetrier:
    def __init__(self, runtime: Runtime, cdn: CdnClient, *, poll: float = 1.0) -> None:
        self.rt = runtime
        self.cdn = cdn
        self.poll = poll  # the longest sleep with nothing due (a missed wake-up's bound)
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """A purge was enqueued (its transaction committed): look now, not at the poll."""
        self._wake.set()

    async def next_due(self) -> float | None:
        rows = await self.rt.store.fetch(
            "SELECT MIN(next_at) FROM theme_purges WHERE state = 'pending'"
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def purge_now(self, tag: str) -> None:
        """One purge under the policy (the manual command uses it too)."""
        await self.rt.policy(POLICY).acall(self.cdn.purge, tag)

    async def run_due(self) -> int:
        """Attempt every due job once; returns how many were attempted."""
        now = self.rt.clock.now()
        rows = await self.rt.store.fetch(
            "SELECT id, tag, attempts FROM theme_purges WHERE state = 'pending'"
            " AND next_at <= ? ORDER BY next_at",
            (now,),
        )
        for job_id, tag, attempts in rows:
            await self._attempt(str(job_id), str(tag), int(attempts) + 1)
        return len(rows)

    async def _attempt(self, job_id: str, tag: str, attempt: int) -> None:
        try:
            await self.purge_now(tag)
        except Exception as err:
            reason = str(getattr(err, "code", "") or type(err).__name__)
            now = self.rt.clock.now()
            self.rt.emit(
                PurgeAttemptFailed(target=POLICY, at=now, attempt=attempt, tag=tag, reason=reason)
            )
            log.warning("CDN purge of %s failed (attempt %d): %s", tag, attempt, reason)
            retry = self.rt.switches.enabled(SWITCH) and attempt < MAX_ATTEMPTS
            if retry:
                await self.rt.store.execute(
                    "UPDATE theme_purges SET attempts = ?, next_at = ?, error = ? WHERE id = ?",
                    (attempt, now + DELAYS[attempt - 1], reason, job_id),
                )
                return
            await self.rt.store.execute(
                "UPDATE theme_purges SET attempts = ?, state = 'failed', error = ? WHERE id = ?",
                (attempt, reason, job_id),
            )
            self.rt.emit(PurgeGaveUp(target=POLICY, at=now, attempt=attempt, tag=tag))
            return
        await self.rt.store.execute(
            "UPDATE theme_purges SET attempts = ?, state = 'done', error = NULL WHERE id = ?",
            (attempt, job_id),
        )

    async def jobs(self, tenant: str) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT id, tag, attempts, state, error FROM theme_purges WHERE tenant = ?",
            (tenant,),
        )
        keys = ("id", "tag", "attempts", "state", "error")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def run(self, stop: asyncio.Event) -> None:
        from .orphans import sleep_or_stop

        while not stop.is_set():
            self._wake.clear()
            wait = self.poll
            try:
                await self.run_due()
                due = await self.next_due()
                if due is not None:  # sleep until the next retry is due, no longer
                    wait = min(self.poll, max(0.0, due - self.rt.clock.now()))
            except Exception:  # the next pass tries again
                log.exception("purge retrier pass failed")
            await sleep_or_stop(self.rt.clock, wait, stop, self._wake)
