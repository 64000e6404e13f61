"""Reading and steering stored sagas: list, show, retry, compensate (what the CLI calls).

These work on the rows alone; they do not need the saga definitions, so an operator can
run them from any machine that reaches the store.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> list[SagaRecord]:
...     store = await SqliteStore.open(":memory:")
...     found = await list_sagas(store, state="running")
...     await store.aclose()
...     return found
>>> asyncio.run(main())
[]

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mitigate.durable._saga_machine import ACTIVE_STATES
from mitigate.durable._saga_sql import ACTIVE, COLUMNS
from mitigate.durable.errors import SagaConfigError, StoreConflictError, StoreNotFoundError
from mitigate.durable.store import TERMINAL_STATES, Row, Store, dumps, loads
from mitigate.errors import StoreError

__all__ = [
    "STATES",
    "SagaRecord",
    "compensate_saga",
    "get_saga",
    "list_sagas",
    "retry_saga",
]

STATES = ("running", "compensating", *TERMINAL_STATES)


@dataclass(frozen=True, slots=True)
class SagaRecord:
    """One saga row, decoded. Times are wall-clock seconds."""

    id: str
    name: str
    state: str
    step: int
    input: Any
    steps: list[dict[str, Any] | None]
    error: str | None
    epoch: int
    lease_owner: str | None
    lease_until: float | None
    run_after: float
    created_at: float
    updated_at: float
    step_started_at: float
    deadline_at: float | None
    alerted: str | None

    @classmethod
    def from_row(cls, row: Row) -> SagaRecord:
        (
            sid,
            name,
            state,
            step,
            input_text,
            steps_text,
            error,
            epoch,
            owner,
            until,
            run_after,
            created,
            updated,
            started,
            deadline,
            alerted,
        ) = row
        return cls(
            sid,
            name,
            state,
            int(step),
            loads(input_text),
            loads(steps_text),
            error,
            int(epoch),
            owner,
            until,
            run_after,
            created,
            updated,
            started,
            deadline,
            alerted,
        )

    def results(self) -> Mapping[str, Any]:
        """Recorded step results by position (names live in the definition): ``step0``..."""
        return {
            f"step{i}": rec["result"]
            for i, rec in enumerate(self.steps)
            if rec is not None and "result" in rec
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "step": self.step,
            "input": self.input,
            "steps": self.steps,
            "error": self.error,
            "epoch": self.epoch,
            "lease_owner": self.lease_owner,
            "lease_until": self.lease_until,
            "run_after": self.run_after,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "step_started_at": self.step_started_at,
            "deadline_at": self.deadline_at,
            "alerted": self.alerted,
        }


async def get_saga(store: Store, saga_id: str) -> SagaRecord | None:
    rows = await store.fetch(f"SELECT {COLUMNS} FROM mitigate_sagas WHERE id = ?", (saga_id,))
    return SagaRecord.from_row(rows[0]) if rows else None


async def list_sagas(
    store: Store,
    *,
    state: str | None = None,
    name: str | None = None,
    older_than: float | None = None,
    limit: int = 100,
) -> list[SagaRecord]:
    """Sagas newest first; ``older_than`` (seconds) keeps those not updated for that long."""
    if state is not None and state not in STATES:
        raise SagaConfigError(state, f"unknown saga state; use one of {', '.join(STATES)}")
    where: list[str] = []
    params: list[Any] = []
    if state is not None:
        where.append("state = ?")
        params.append(state)
    if name is not None:
        where.append("name = ?")
        params.append(name)
    if older_than is not None:
        where.append("updated_at <= ?")
        params.append(store.clock.wall() - older_than)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await store.fetch(
        f"SELECT {COLUMNS} FROM mitigate_sagas{clause} ORDER BY created_at DESC LIMIT ?",
        (*params, limit),
    )
    return [SagaRecord.from_row(r) for r in rows]


def _missing(saga_id: str) -> StoreError:
    return StoreNotFoundError(saga_id, "no such saga", hint="list them with `mitigate saga list`")


async def _rewrite(
    store: Store,
    record: SagaRecord,
    *,
    state: str,
    step: int,
    steps: list[dict[str, Any] | None],
    error: str | None,
) -> SagaRecord:
    """Hand the saga to the next claimer: bump the epoch (fencing any holder off)."""
    now = store.clock.wall()
    changed = await store.execute(
        "UPDATE mitigate_sagas SET state = ?, step = ?, steps = ?, error = ?, epoch = epoch + 1,"
        " lease_owner = NULL, lease_until = NULL, run_after = ?, updated_at = ?,"
        " step_started_at = ?, alerted = NULL WHERE id = ? AND epoch = ?",
        (state, step, dumps(steps), error, now, now, now, record.id, record.epoch),
    )
    if changed != 1:
        raise StoreConflictError(
            record.id, "the saga changed while we updated it", hint="run the command again"
        )
    found = await get_saga(store, record.id)
    assert found is not None
    return found


def _leased(store: Store, record: SagaRecord) -> bool:
    return record.lease_until is not None and record.lease_until > store.clock.wall()


async def retry_saga(store: Store, saga_id: str, *, force: bool = False) -> SagaRecord:
    """Make a parked or stalled saga runnable now.

    ``compensation_failed``: its compensation is queued again (from the step that failed).
    ``parked``: it goes back to running (or compensating) from where it was parked.
    ``running``/``compensating`` with an expired (or no) lease: claimable at once. A saga
    whose lease is live is refused unless ``force`` (which fences its worker off).
    """
    record = await get_saga(store, saga_id)
    if record is None:
        raise _missing(saga_id)
    if record.state == "parked":
        # Back to where it was parked from (kept in `alerted` as "parked:<state>"); a
        # worker whose definition still does not fit parks it again.
        marker = record.alerted or ""
        resume = marker.split(":", 1)[1] if marker.startswith("parked:") else "running"
        if resume not in ACTIVE_STATES:
            resume = "running"
        return await _rewrite(
            store, record, state=resume, step=record.step, steps=record.steps, error=record.error
        )
    if record.state == "compensation_failed":
        return await _rewrite(
            store,
            record,
            state="compensating",
            step=record.step,
            steps=record.steps,
            error=record.error,
        )
    if record.state in ("completed", "compensated"):
        raise StoreConflictError(
            saga_id,
            f"the saga already ended {record.state}",
            hint="start a new saga to do the work again",
        )
    if _leased(store, record) and not force:
        raise StoreConflictError(
            saga_id,
            f"leased by {record.lease_owner} for "
            f"{record.lease_until - store.clock.wall():.0f}s more",  # type: ignore[operator]
            hint="wait for the lease, or pass --force",
        )
    return await _rewrite(
        store, record, state=record.state, step=record.step, steps=record.steps, error=record.error
    )


async def compensate_saga(
    store: Store, saga_id: str, *, reason: str = "compensation requested by operator"
) -> SagaRecord:
    """Undo a saga that has not ended (or re-run a failed compensation).

    A running saga's step in flight counts as interrupted and is compensated too; the worker
    holding it is fenced off and the next claimer runs the compensations.
    """
    record = await get_saga(store, saga_id)
    if record is None:
        raise _missing(saga_id)
    if record.state in ("completed", "compensated"):
        raise StoreConflictError(
            saga_id,
            f"the saga already ended {record.state}; nothing left to compensate here",
            hint="write a new saga for a business-level reversal",
        )
    steps = [dict(s) if s is not None else None for s in record.steps]
    if record.state == "running":
        entry = steps[record.step] or {}
        if "result" not in entry:
            entry["interrupted"] = True
        steps[record.step] = entry
    error = record.error or reason
    if record.state == "running":
        error = reason if record.error is None else f"{record.error}; {reason}"
    return await _rewrite(
        store, record, state="compensating", step=record.step, steps=steps, error=error
    )


async def count_active(store: Store) -> int:
    """Sagas not yet ended (running or compensating)."""
    rows = await store.fetch(f"SELECT count(*) FROM mitigate_sagas WHERE state IN {ACTIVE}")
    return int(rows[0][0])
