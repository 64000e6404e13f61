"""Attachment scanning through a durable queue (comms.fm.8).

Every stored attachment is ``pending`` and gets a scan job (``mitigate.WorkQueue``, one
job per attachment, leased, retried); nothing is downloadable before its scan says
``clean`` (``infected`` never is). A watcher reports the backlog every ``watch_every``
seconds (``comms.scan_backlog``, the rule's gauge) and:

- **scales**: once the backlog has stayed above ``scale_above`` for ``scale_after`` (the
  alert's condition: > 1000 for 15 min), a second scanner worker shares the queue;
- **refuses uploads** (``admit``) while ``refuse_above`` scans are pending: 503 with
  Retry-After, before a byte is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError

__all__ = ["QUEUE", "ScanBacklog", "Scanning", "UploadBackpressure"]

QUEUE = "comms.attachment-scan"
log = logging.getLogger("services.comms.scanning")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanBacklog(mitigate.Event):
    """Scans waiting (queued or leased) and the scanner workers running."""

    name: ClassVar[str] = "comms.scan_backlog"
    pending: int = 0
    workers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadBackpressure(mitigate.Event):
    name: ClassVar[str] = "comms.upload_backpressure"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    pending: int = 0


class Scanning:
    def __init__(
        self,
        runtime: Any,
        scanner: Any,
        *,
        refuse_above: int,
        scale_above: int,
        scale_after: float,
        max_workers: int,
        watch_every: float,
        switches: dict[str, str],
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.scanner = scanner  # kit Remote of the AV scanner
        self.refuse_above = refuse_above
        self.scale_above = scale_above
        self.scale_after = scale_after
        self.max_workers = max_workers
        self.watch_every = watch_every
        self.switches = switches
        self.queue = mitigate.WorkQueue(
            runtime.store, QUEUE, clock=runtime.clock, max_attempts=5, lease=60.0
        )
        self.workers: list[asyncio.Task[None]] = []
        self._above_since: float | None = None
        self._stop = asyncio.Event()

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def pending(self) -> int:
        counts = await self.queue.counts()
        return int(counts.get("queued", 0)) + int(counts.get("leased", 0))

    # -- the upload path ---------------------------------------------------------------
    async def admit(self) -> None:
        """Refuse a new upload while the scanner is this far behind."""
        if not self._on("backpressure"):
            return
        waiting = await self.pending()
        if waiting >= self.refuse_above:
            self.runtime.emit(
                UploadBackpressure(target="uploads.scan", at=self.clock.now(), pending=waiting)
            )
            raise ServiceError(
                "COMMS.UPLOAD.SCAN_BACKLOG",
                f"{waiting} uploads are waiting for the virus scanner; try again later",
                status=503,
                retry_after=60,
            )

    async def accepted(self, tenant: str, attachment: str, key: str) -> None:
        await self.store.execute(
            "INSERT INTO comms_attachments (id, tenant, object_key, state, at)"
            " VALUES (?, ?, ?, 'pending', ?)",
            (attachment, tenant, key, self.clock.now()),
        )
        await self.queue.enqueue({"attachment": attachment, "key": key}, key=attachment)

    async def download(self, tenant: str, attachment: str) -> bytes:
        rows = await self.store.fetch(
            "SELECT object_key, state FROM comms_attachments WHERE id = ? AND tenant = ?",
            (attachment, tenant),
        )
        if not rows:
            raise ServiceError(
                "COMMS.ATTACHMENT.UNKNOWN", f"no attachment {attachment}", status=404
            )
        key, state = str(rows[0][0]), str(rows[0][1])
        if state == "pending":
            raise ServiceError(
                "COMMS.ATTACHMENT.SCAN_PENDING",
                "the attachment is waiting for its virus scan",
                status=409,
                retry_after=60,
            )
        if state != "clean":
            raise ServiceError(
                "COMMS.ATTACHMENT.INFECTED", "the attachment failed its virus scan", status=403
            )
        return bytes(await self.runtime.objects.get(key))

    async def summary(self) -> dict[str, Any]:
        rows = await self.store.fetch(
            "SELECT state, COUNT(*) FROM comms_attachments GROUP BY state"
        )
        states = {str(state): int(count) for state, count in rows}
        return {"waiting": await self.pending(), "workers": len(self.workers), "states": states}

    # -- the workers ---------------------------------------------------------------------
    async def _scan(self, job: Any) -> None:
        attachment, key = job.payload["attachment"], job.payload["key"]
        data = await self.runtime.objects.get(key)
        verdict = await self.scanner.request("av.scan", "POST", "/scan", content=data)
        found = (verdict or {}).get("status") == "FOUND"
        await self.store.execute(
            "UPDATE comms_attachments SET state = ?, signature = ?, scanned_at = ? WHERE id = ?",
            (
                "infected" if found else "clean",
                (verdict or {}).get("signature") if found else None,
                self.clock.now(),
                attachment,
            ),
        )

    def _add_worker(self) -> None:
        name = f"scanner-{len(self.workers) + 1}"
        task = self.queue.run(self._scan, worker=name, stop=self._stop, poll=1.0)
        self.workers.append(asyncio.create_task(task, name=f"comms.{name}"))

    async def watch_once(self) -> int:
        """Report the backlog; add a worker once it has stayed high long enough."""
        waiting = await self.pending()
        now = self.clock.now()
        self.runtime.emit(
            ScanBacklog(target="scan.queue", at=now, pending=waiting, workers=len(self.workers))
        )
        if waiting <= self.scale_above:
            self._above_since = None
        elif self._above_since is None:
            self._above_since = now
        elif (
            now - self._above_since >= self.scale_after
            and len(self.workers) < self.max_workers
            and self._on("scale")
        ):
            log.warning(
                "scan backlog %d for %.0fs: adding a scanner worker",
                waiting,
                now - self._above_since,
            )
            self._add_worker()
        return waiting

    async def run(self, stop: asyncio.Event) -> None:
        self._add_worker()
        try:
            while not stop.is_set():
                try:
                    await self.watch_once()
                except Exception:
                    log.exception("scan backlog check failed; the next one retries")
                await self.clock.asleep(self.watch_every)
        finally:
            self._stop.set()
            for task in self.workers:
                task.cancel()
            for task in self.workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.workers.clear()
