"""A durable work queue on the store: leases, retries on a schedule, parking, a dead state.

A job is a JSON payload in ``mitigate_queue``. A worker *claims* due jobs: each claim is a
lease (``lease`` seconds) and counts as an attempt. The worker then completes the job,
fails it (it runs again after the retry schedule's delay; after ``max_attempts`` it is
``dead``), or parks it for a person to review. A worker that crashes never says anything:
its lease runs out and the next claim takes the job over (a lease that runs out on the
last attempt makes the job dead, so a job that kills its workers cannot loop forever).

Claims are safe with many workers: PostgreSQL locks the rows it claims with
``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time. ``enqueue(key=...)`` is
idempotent: the same key returns the job already there, whatever its state.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> tuple[str, dict[str, int]]:
...     store = await SqliteStore.open(":memory:")
...     queue = WorkQueue(store, "thumbnails")
...     job = await queue.enqueue({"image": "i1"}, key="i1")
...     again = await queue.enqueue({"image": "i1"}, key="i1")
...     (claimed,) = await queue.claim("worker-1")
...     await queue.complete(claimed)
...     counts = await queue.counts()
...     await store.aclose()
...     return str(job.id == again.id == claimed.id), counts
>>> asyncio.run(main())
('True', {'queued': 0, 'leased': 0, 'done': 1, 'parked': 0, 'dead': 0})

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from mitigate.clock import Clock
from mitigate.durable.store import Row, Store, Tx, dumps, loads
from mitigate.errors import ConfigError, MitigateError
from mitigate.observe.events import Event
from mitigate.observe.observers import Observer, Observers
from mitigate.observe.service_events import (
    JobCompleted,
    JobDeadLettered,
    JobEnqueued,
    JobFailed,
    JobLeaseExpired,
    JobParked,
    JobUnparked,
)
from mitigate.policy.retry import Retry

__all__ = ["STATES", "Job", "LeaseLostError", "QueueError", "WorkQueue"]

STATES = ("queued", "leased", "done", "parked", "dead")

_COLUMNS = (
    "id, queue, job_key, payload, state, attempts, run_at, leased_by, lease_until,"
    " last_error, park_reason, created_at, updated_at, finished_at"
)
_MAX_ERROR = 2000

_log = logging.getLogger("mitigate.queue")


class QueueError(MitigateError):
    """A work-queue operation does not fit the job (refined: ``MITIGATE.QUEUE.NOT_FOUND``,
    ``MITIGATE.QUEUE.CONFLICT``)."""

    code: ClassVar[str] = "MITIGATE.QUEUE.ERROR"


class LeaseLostError(QueueError):
    """The worker no longer holds the job: its lease ran out and another worker took it,
    or the job was parked meanwhile. The result of this attempt is not recorded."""

    code: ClassVar[str] = "MITIGATE.QUEUE.LEASE_LOST"
    default_hint: ClassVar[str] = "make the handler idempotent, or raise the lease"


@dataclass(frozen=True, slots=True)
class Job:
    """One job as read from the store. ``attempts`` counts claims so far; ``worker`` and
    ``lease_until`` describe the current lease (while ``leased``)."""

    id: str
    queue: str
    payload: Any
    key: str | None
    state: str
    attempts: int
    run_at: float
    worker: str | None
    lease_until: float | None
    last_error: str | None
    park_reason: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @classmethod
    def _from_row(cls, row: Row) -> Job:
        return cls(
            id=row[0],
            queue=row[1],
            key=row[2],
            payload=loads(row[3]),
            state=row[4],
            attempts=int(row[5]),
            run_at=float(row[6]),
            worker=row[7],
            lease_until=None if row[8] is None else float(row[8]),
            last_error=row[9],
            park_reason=row[10],
            created_at=float(row[11]),
            updated_at=float(row[12]),
            finished_at=None if row[13] is None else float(row[13]),
        )


Handler = Callable[[Job], Awaitable[object]]


class WorkQueue:
    """Durable jobs with leases on ``store`` (see the module docstring).

    ``retry`` gives the delay before each retry (its :meth:`~mitigate.Retry.delays`, the
    last one repeating); by default exponential from 1 s, capped at 5 min.
    ``max_attempts`` claims in all before a failing job is dead. ``lease`` is how long a
    claim lasts before another worker may take the job over.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        clock: Clock | None = None,
        retry: Retry | None = None,
        max_attempts: int = 5,
        lease: float = 30.0,
        observers: Iterable[Observer] = (),
    ) -> None:
        if not name:
            raise ConfigError(None, "a work queue needs a name", code="MITIGATE.CONFIG.QUEUE")
        if max_attempts < 1:
            raise ConfigError(name, "max_attempts must be >= 1", code="MITIGATE.CONFIG.QUEUE")
        if not lease > 0:
            raise ConfigError(name, "lease must be > 0 seconds", code="MITIGATE.CONFIG.QUEUE")
        self.store = store
        self.name = name
        self.clock = clock if clock is not None else store.clock
        self.retry = (
            retry if retry is not None else Retry(max(max_attempts - 1, 1), base=1.0, cap=300.0)
        )
        self.max_attempts = max_attempts
        self.lease = float(lease)
        self.observers = Observers(observers)
        # Jobs this object already settled in the current attempt (run() skips completing them).
        self._settled: set[tuple[str, int]] = set()

    def __repr__(self) -> str:
        return f"WorkQueue({self.name!r}, max_attempts={self.max_attempts}, lease={self.lease})"

    # -- producing -------------------------------------------------------------------
    async def enqueue(
        self, payload: Any, *, key: str | None = None, tx: Tx | None = None, delay: float = 0.0
    ) -> Job:
        """Add a job (due after ``delay`` seconds); the same ``key`` returns the same job.

        With ``tx`` the job commits or rolls back with the caller's own transaction.
        """
        body = dumps(payload, what=f"payload of a job on {self.name}", target=self.name)
        now = self.clock.wall()
        job_id = uuid.uuid4().hex
        if tx is not None:
            job, fresh = await self._insert(tx, job_id, key, body, now, delay)
        else:
            async with self.store.transaction() as own:
                job, fresh = await self._insert(own, job_id, key, body, now, delay)
        self._emit(JobEnqueued, job_id=job.id, key=key, duplicate=not fresh)
        return job

    async def _insert(
        self, tx: Tx, job_id: str, key: str | None, body: str, now: float, delay: float
    ) -> tuple[Job, bool]:
        row = await tx.fetchone(
            f"INSERT INTO mitigate_queue (id, queue, job_key, payload, state, attempts, run_at,"
            f" created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?)"
            f" ON CONFLICT (queue, job_key) DO NOTHING RETURNING {_COLUMNS}",
            (job_id, self.name, key, body, now + max(delay, 0.0), now, now),
        )
        if row is not None:
            return Job._from_row(row), True
        existing = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM mitigate_queue WHERE queue = ? AND job_key = ?",
            (self.name, key),
        )
        assert existing is not None  # the conflicting row exists (rows are never deleted in a tx)
        return Job._from_row(existing), False

    # -- consuming -------------------------------------------------------------------
    async def claim(self, worker: str, limit: int = 1) -> list[Job]:
        """Lease up to ``limit`` due jobs (queued and due, or leased by a worker whose lease
        ran out) to ``worker``; each claim counts as an attempt."""
        if limit < 1:
            return []
        now = self.clock.wall()
        lock = " FOR UPDATE SKIP LOCKED" if self.store.dialect == "postgres" else ""
        claimed: list[Job] = []
        expired: list[tuple[Job, str]] = []
        dead: list[Job] = []
        async with self.store.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT id, state, leased_by, attempts FROM mitigate_queue WHERE queue = ?"
                f" AND ((state = 'queued' AND run_at <= ?)"
                f" OR (state = 'leased' AND lease_until <= ?))"
                f" ORDER BY run_at, seq LIMIT ?{lock}",
                (self.name, now, now, limit),
            )
            for job_id, state, previous, attempts in rows:
                if state == "leased" and int(attempts) >= self.max_attempts:
                    # The last attempt's worker died holding it: do not try again forever.
                    reason = (
                        f"lease of {previous} ran out on attempt {attempts} of {self.max_attempts}"
                    )
                    gone = await self._settle(tx, job_id, "dead", reason, now)
                    if gone is not None:
                        dead.append(gone)
                    continue
                row = await tx.fetchone(
                    f"UPDATE mitigate_queue SET state = 'leased', leased_by = ?,"
                    f" lease_until = ?, attempts = attempts + 1, updated_at = ?"
                    f" WHERE id = ? RETURNING {_COLUMNS}",
                    (worker, now + self.lease, now, job_id),
                )
                assert row is not None
                job = Job._from_row(row)
                claimed.append(job)
                if state == "leased":
                    expired.append((job, previous or ""))
        for job, previous in expired:
            self._emit(JobLeaseExpired, job_id=job.id, worker=worker, previous_worker=previous)
        for job in dead:
            self._emit(
                JobDeadLettered, job_id=job.id, reason=job.last_error or "", attempts=job.attempts
            )
        return claimed

    async def extend(self, job: Job, seconds: float | None = None) -> Job:
        """Renew the lease (a heartbeat for long jobs); LeaseLostError when it was lost."""
        now = self.clock.wall()
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                f"UPDATE mitigate_queue SET lease_until = ?, updated_at = ? WHERE id = ?"
                f" AND state = 'leased' AND leased_by = ? AND attempts = ? RETURNING {_COLUMNS}",
                (
                    now + (self.lease if seconds is None else seconds),
                    now,
                    job.id,
                    job.worker,
                    job.attempts,
                ),
            )
        if row is None:
            raise self._lost(job, "extend")
        return Job._from_row(row)

    async def complete(self, job: Job) -> None:
        """Mark a claimed job done; LeaseLostError when this worker no longer holds it."""
        now = self.clock.wall()
        async with self.store.transaction() as tx:
            changed = await tx.execute(
                "UPDATE mitigate_queue SET state = 'done', leased_by = NULL, lease_until = NULL,"
                " updated_at = ?, finished_at = ? WHERE id = ? AND state = 'leased'"
                " AND leased_by = ? AND attempts = ?",
                (now, now, job.id, job.worker, job.attempts),
            )
        if not changed:
            raise self._lost(job, "complete")
        self._settled.add((job.id, job.attempts))
        self._emit(
            JobCompleted, job_id=job.id, worker=job.worker or "", duration=now - job.updated_at
        )

    async def fail(self, job: Job, error: BaseException | str, *, permanent: bool = False) -> Job:
        """Record a failed attempt: the job runs again after the retry delay, or is dead
        (after ``max_attempts`` attempts, or at once when ``permanent``)."""
        reason = _describe(error)
        now = self.clock.wall()
        last = permanent or job.attempts >= self.max_attempts
        delay = 0.0 if last else self.delay(job.attempts)
        settled: Job | None
        async with self.store.transaction() as tx:
            if last:
                settled = await self._settle(tx, job.id, "dead", reason, now, holder=job)
            else:
                row = await tx.fetchone(
                    f"UPDATE mitigate_queue SET state = 'queued', run_at = ?, leased_by = NULL,"
                    f" lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?"
                    f" AND state = 'leased' AND leased_by = ? AND attempts = ?"
                    f" RETURNING {_COLUMNS}",
                    (now + delay, reason, now, job.id, job.worker, job.attempts),
                )
                settled = None if row is None else Job._from_row(row)
        if settled is None:
            raise self._lost(job, "fail")
        self._settled.add((job.id, job.attempts))
        error_obj = error if isinstance(error, BaseException) else None
        if last:
            self._emit(
                JobDeadLettered,
                job_id=job.id,
                reason=reason,
                attempts=job.attempts,
                error=error_obj,
            )
        else:
            self._emit(
                JobFailed, job_id=job.id, worker=job.worker or "", reason=reason, delay=delay,
                attempt=job.attempts, error=error_obj,
            )  # fmt: skip
        return settled

    def delay(self, attempts: int) -> float:
        """Seconds before the retry that follows attempt number ``attempts``.

        >>> q = WorkQueue.__new__(WorkQueue); q.retry = Retry(3, schedule=(1, 5, 30))
        >>> [q.delay(n) for n in (1, 2, 3, 4)]
        [1.0, 5.0, 30.0, 30.0]
        """
        delays = self.retry.delays()
        return float(delays[min(attempts, len(delays)) - 1]) if delays else 0.0

    # -- review ----------------------------------------------------------------------
    async def park(self, job: Job | str, reason: str) -> Job:
        """Set a job aside for a person to review: not retried until :meth:`unpark`."""
        job_id = job.id if isinstance(job, Job) else job
        now = self.clock.wall()
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                f"UPDATE mitigate_queue SET state = 'parked', park_reason = ?, leased_by = NULL,"
                f" lease_until = NULL, updated_at = ? WHERE id = ? AND queue = ?"
                f" AND state IN ('queued', 'leased', 'dead') RETURNING {_COLUMNS}",
                (reason, now, job_id, self.name),
            )
        if row is None:
            raise await self._not_movable(job_id, "park", "queued, leased or dead")
        if isinstance(job, Job):
            self._settled.add((job.id, job.attempts))
        self._emit(JobParked, job_id=job_id, reason=reason)
        return Job._from_row(row)

    async def unpark(self, job_id: str) -> Job:
        """Queue a parked (or dead) job again, due now, with a fresh count of attempts."""
        now = self.clock.wall()
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                f"UPDATE mitigate_queue SET state = 'queued', attempts = 0, run_at = ?,"
                f" park_reason = NULL, finished_at = NULL, updated_at = ? WHERE id = ?"
                f" AND queue = ? AND state IN ('parked', 'dead') RETURNING {_COLUMNS}",
                (now, now, job_id, self.name),
            )
        if row is None:
            raise await self._not_movable(job_id, "unpark", "parked or dead")
        self._emit(JobUnparked, job_id=job_id)
        return Job._from_row(row)

    # -- reading ---------------------------------------------------------------------
    async def get(self, job_id: str) -> Job | None:
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM mitigate_queue WHERE id = ? AND queue = ?",
            (job_id, self.name),
        )
        return Job._from_row(rows[0]) if rows else None

    async def counts(self) -> dict[str, int]:
        """Jobs per state, every state listed (``queued``, ``leased``, ``done``, ``parked``,
        ``dead``)."""
        rows = await self.store.fetch(
            "SELECT state, count(*) FROM mitigate_queue WHERE queue = ? GROUP BY state",
            (self.name,),
        )
        found = {state: int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    async def jobs(self, *, state: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs of this queue, oldest first (one state, or all)."""
        where, params = "queue = ?", [self.name]
        if state is not None:
            if state not in STATES:
                raise ConfigError(
                    state, f"state must be one of {STATES}", code="MITIGATE.CONFIG.QUEUE"
                )
            where += " AND state = ?"
            params.append(state)
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM mitigate_queue WHERE {where} ORDER BY seq LIMIT ?",
            (*params, limit),
        )
        return [Job._from_row(r) for r in rows]

    async def purge_done(self, older_than: float) -> int:
        """Delete done jobs finished more than ``older_than`` seconds ago (a retention cap);
        their keys become free again."""
        cutoff = self.clock.wall() - older_than
        return await self.store.execute(
            "DELETE FROM mitigate_queue WHERE queue = ? AND state = 'done' AND finished_at < ?",
            (self.name, cutoff),
        )

    # -- the worker loop -------------------------------------------------------------
    async def run(
        self,
        handler: Handler,
        *,
        worker: str | None = None,
        stop: asyncio.Event | None = None,
        poll: float = 1.0,
        batch: int = 1,
        permanent_on: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Claim and handle jobs until ``stop`` is set, sleeping ``poll`` seconds on the
        clock when nothing is due. A handler that returns completes its job (unless it
        settled the job itself); one that raises fails it (permanently for
        ``permanent_on`` errors). A lost lease is reported, never fatal to the loop; nor is
        a store that fails for a while: the loop logs it and tries again after ``poll``
        (a job it could not settle keeps its lease, which runs out, and is claimed again)."""
        me = worker or f"worker-{uuid.uuid4().hex[:8]}"
        stop = stop if stop is not None else asyncio.Event()
        while not stop.is_set():
            try:
                jobs = await self.claim(me, batch)
            except Exception:
                _log.exception("work queue %s: claim by %s failed; trying again", self.name, me)
                await self._pause(poll, stop)
                continue
            if not jobs:
                await self._pause(poll, stop)
                continue
            for job in jobs:
                await self._handle(job, handler, permanent_on)

    async def _handle(
        self, job: Job, handler: Handler, permanent_on: tuple[type[BaseException], ...]
    ) -> None:
        try:
            try:
                await handler(job)
            except Exception as exc:
                if (job.id, job.attempts) not in self._settled:
                    await self.fail(job, exc, permanent=isinstance(exc, permanent_on))
                return
            if (job.id, job.attempts) not in self._settled:
                await self.complete(job)
        except LeaseLostError:
            pass  # already reported as an event by _lost; the job's new holder carries on
        except Exception:
            _log.exception("work queue %s: could not settle job %s", self.name, job.id)
        finally:
            self._settled.discard((job.id, job.attempts))

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        timer = asyncio.ensure_future(self.clock.asleep(seconds))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({timer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            stopped.cancel()

    # -- internals -------------------------------------------------------------------
    async def _settle(
        self, tx: Tx, job_id: str, state: str, reason: str, now: float, *, holder: Job | None = None
    ) -> Job | None:
        guard = ""
        params: tuple[object, ...] = ()
        if holder is not None:
            guard = " AND state = 'leased' AND leased_by = ? AND attempts = ?"
            params = (holder.worker, holder.attempts)
        row = await tx.fetchone(
            f"UPDATE mitigate_queue SET state = ?, last_error = ?, leased_by = NULL,"
            f" lease_until = NULL, updated_at = ?, finished_at = ? WHERE id = ?{guard}"
            f" RETURNING {_COLUMNS}",
            (state, reason, now, now, job_id, *params),
        )
        return None if row is None else Job._from_row(row)

    def _lost(self, job: Job, what: str) -> LeaseLostError:
        self._emit(JobLeaseExpired, job_id=job.id, worker="", previous_worker=job.worker or "")
        return LeaseLostError(
            f"{self.name} job {job.id}",
            f"{what}() by {job.worker} on attempt {job.attempts}: the lease was lost"
            " (it ran out and another worker took the job, or the job was parked)",
        )

    async def _not_movable(self, job_id: str, what: str, allowed: str) -> QueueError:
        job = await self.get(job_id)
        if job is None:
            return QueueError(
                f"{self.name} job {job_id}", "no such job in this queue",
                hint=f"list jobs with {self.name!r} queue.jobs()", code="MITIGATE.QUEUE.NOT_FOUND",
            )  # fmt: skip
        return QueueError(
            f"{self.name} job {job_id}", f"cannot {what} a job that is {job.state}",
            hint=f"only {allowed} jobs can be {what}ed", code="MITIGATE.QUEUE.CONFLICT",
        )  # fmt: skip

    def _emit(self, kind: type[Event], **fields: Any) -> None:
        if self.observers:
            self.observers.emit(kind(target=self.name, at=self.clock.now(), **fields))


def _describe(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:_MAX_ERROR]
