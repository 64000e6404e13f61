"""Read receipts and host clock skew (comms.fm.16).

Several workers take read receipts; each stamps them with its own host clock. Before it
stamps, a worker compares its clock with the reference (PostgreSQL's ``clock_timestamp()``
on PostgreSQL, the service's time source on the embedded store) and reports the skew as
the gauge ``comms_clock_skew_seconds``; past 500 ms it marks itself unhealthy and stops
issuing receipts (503: the caller goes to another worker) until its clock is corrected.
Receipts are listed in commit order, from a database sequence, never by host time.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

from services.kit.errors import ServiceError

__all__ = ["MAX_SKEW", "SKEW_METRIC", "ReadReceipts"]

SKEW_METRIC = "comms_clock_skew_seconds"
MAX_SKEW = 0.5  # "skew > 500 ms"


class ReadReceipts:
    def __init__(
        self, runtime: Any, *, workers: dict[str, Any], detector: Any, switches: dict[str, str]
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.workers = workers  # name -> the clock that worker's host reads
        self.detector = detector
        self.switches = switches
        self.skews: dict[str, float] = {}
        self.gauge = Gauge(
            SKEW_METRIC,
            "host clock skew of a receipt worker",
            ["worker"],
            registry=runtime.registry,
        )

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def _reference(self) -> float:
        if getattr(self.store, "dialect", "") == "postgres":
            rows = await self.store.fetch("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
            return float(rows[0][0])
        return float(self.runtime.clock.wall())

    async def skew(self, worker: str) -> float:
        host = float(self.workers[worker].wall())
        skew = host - await self._reference()
        self.skews[worker] = skew
        self.gauge.labels(worker=worker).set(skew)
        if self.detector is not None:
            self.detector.report(SKEW_METRIC, max(abs(s) for s in self.skews.values()))
        return skew

    async def read(self, tenant: str, thread: str, participant: str, worker: str) -> dict[str, Any]:
        if worker not in self.workers:
            raise ServiceError("COMMS.WORKER.UNKNOWN", f"no worker {worker}", status=404)
        skew = await self.skew(worker)
        if abs(skew) > MAX_SKEW and self._on("guard"):
            raise ServiceError(
                "COMMS.WORKER.CLOCK_SKEW",
                f"{worker}'s clock is {skew * 1000:+.0f} ms off;"
                " it issues no receipts until corrected",
                status=503,
                retry_after=30,
            )
        stamped = float(self.workers[worker].wall())
        async with self.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO comms_read_receipts"
                " (tenant, thread_id, participant, worker, stamped_at) VALUES (?, ?, ?, ?, ?)",
                (tenant, thread, participant, worker, stamped),
            )
        return {
            "thread": thread,
            "participant": participant,
            "worker": worker,
            "stampedAt": stamped,
        }

    async def listing(self, tenant: str, thread: str) -> list[dict[str, Any]]:
        order = "seq" if self._on("db_order") else "stamped_at, seq"
        rows = await self.store.fetch(
            "SELECT seq, participant, worker, stamped_at FROM comms_read_receipts"
            f" WHERE tenant = ? AND thread_id = ? ORDER BY {order}",
            (tenant, thread),
        )
        return [
            {"seq": int(q), "participant": p, "worker": w, "stampedAt": float(t)}
            for q, p, w, t in rows
        ]
