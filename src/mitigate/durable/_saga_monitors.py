"""A saga worker's background watchers: lease heartbeat and the stuck-step scan.

(The deadline watch is :mod:`mitigate.durable._deadlines`.) A failure here never stops the
worker and is never swallowed: each one becomes a
:class:`~mitigate.observe.events.SagaWorkerFailed` event, and the next round tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mitigate.clock import Clock
from mitigate.durable._emit import emit
from mitigate.observe.events import SagaStuck, SagaWorkerFailed
from mitigate.observe.observers import Observers

if TYPE_CHECKING:
    from mitigate.durable.saga import Saga
    from mitigate.durable.saga_worker import SagaWorker

__all__ = ["heartbeat", "scan_stuck", "stuck_monitor", "worker_failed"]


def worker_failed(observers: Observers, clock: Clock, where: str, error: BaseException) -> None:
    emit(
        observers,
        SagaWorkerFailed,
        target="saga",
        at=clock.now(),
        where=where,
        error=error,
        reason=f"{where} failed: {type(error).__name__}: {error}",
    )


async def heartbeat(worker: SagaWorker) -> None:
    """Renew the leases of every saga driven here, every ``lease / 3`` seconds."""
    while True:
        await worker.clock.asleep(worker.lease / 3)
        ids = worker.active_ids()
        if not ids:
            continue
        try:
            await worker.sql.renew(worker.store, worker.owner, ids, worker.lease)
        except Exception as exc:  # the next beat tries again; the lease has 2 more
            worker_failed(worker.observers, worker.clock, "heartbeat", exc)


async def stuck_monitor(worker: SagaWorker, every: float) -> None:
    while True:
        await worker.clock.asleep(every)
        try:
            await scan_stuck(worker)
        except Exception as exc:
            worker_failed(worker.observers, worker.clock, "stuck_scan", exc)


async def scan_stuck(worker: SagaWorker) -> list[SagaStuck]:
    """Alert once for each saga sitting in one step longer than its threshold."""
    smallest = worker.min_stuck_threshold
    if smallest is None:
        return []
    sagas: Mapping[str, Saga] = worker.sagas
    now = worker.clock.wall()
    raised: list[SagaStuck] = []
    rows = await worker.sql.stuck_candidates(worker.store, now - smallest)
    for saga_id, name, state, step, started_at, alerted in rows:
        saga = sagas.get(name)
        if saga is None or not 0 <= step < len(saga.steps):
            continue
        definition = saga.steps[step]
        threshold = definition.stuck_after or saga.stuck_after or worker.options.stuck_after
        if threshold is None or now - started_at < threshold:
            continue
        if alerted == f"{state}:{step}":
            continue
        if not await worker.sql.mark_alerted(worker.store, saga_id, state, step):
            continue
        event = SagaStuck(
            target=name,
            at=worker.clock.now(),
            saga_id=saga_id,
            step=definition.name,
            phase="action" if state == "running" else "compensation",
            rule="saga.stuck",
            value=now - started_at,
            threshold=threshold,
            message=(
                f"saga {saga_id} ({name}) has been in step {definition.name} ({state}) for "
                f"{now - started_at:.0f}s, over {threshold:g}s"
            ),
            runbook=saga.runbook or "",
        )
        raised.append(event)
        worker.observers.emit(event)  # built anyway: the caller gets it back
    return raised
