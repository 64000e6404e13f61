"""The saga table's SQL: one shared part, thin overrides per dialect.

The hot path is :meth:`SagaSql.write_batch`: the state writes of many sagas (new sagas and
step transitions) in ONE transaction. PostgreSQL does it in one statement (one round trip)
with ``unnest`` arrays; SQLite runs the statements in one ``BEGIN IMMEDIATE`` transaction.
A transition only lands if the writer's lease ``epoch`` is still current (fencing).

Leases are set and compared on ONE clock, never each worker's own: PostgreSQL's
``clock_timestamp()`` (when the store has ``database_clock``), else the store's clock. A
worker passes lease *lengths*; the SQL adds them to that clock's now.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from mitigate.durable.store import Row, Store, Tx

__all__ = ["ACTIVE", "COLUMNS", "PG_NOW", "SagaSql", "lease_now", "sql_for"]

ACTIVE = "('running', 'compensating')"
COLUMNS = (
    "id, name, state, step, input, steps, error, epoch, lease_owner, lease_until, run_after,"
    " created_at, updated_at, step_started_at, deadline_at, alerted"
)
# What a worker needs to drive a claimed saga.
CLAIMED = "id, name, state, step, input, steps, epoch, deadline_at, error"

Insert = tuple[Any, ...]  # COLUMNS order, except lease_until holds the lease LENGTH or None
# (state, step, steps, error, updated_at, step_started_at, lease_owner, lease seconds or None,
#  run_after, id, epoch)
Update = tuple[Any, ...]

# PostgreSQL: the caller's time when given (a virtual clock), else the server's.
PG_NOW = "COALESCE(?::float8, extract(epoch from clock_timestamp())::float8)"


def lease_now(store: Store) -> float | None:
    """The time leases are set against: ``None`` means the database's own clock."""
    if getattr(store, "database_clock", False):
        return None
    return store.clock.wall()


def _absolute(now: float | None, row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    lease = row[at]
    if lease is None:
        return row
    assert now is not None
    return (*row[:at], now + lease, *row[at + 1 :])


_UPDATE = (
    "UPDATE mitigate_sagas SET state = ?, step = ?, steps = ?, error = ?, updated_at = ?,"
    " step_started_at = ?, lease_owner = ?, lease_until = ?, run_after = ?"
    " WHERE id = ? AND epoch = ?"
)

_UPDATE_PG = _UPDATE.replace("lease_until = ?", f"lease_until = ? + {PG_NOW}")


class SagaSql(abc.ABC):
    """Shared SQL; subclasses override what their dialect does differently."""

    @abc.abstractmethod
    async def write_batch(
        self, store: Store, inserts: Sequence[Insert], updates: Sequence[Update]
    ) -> tuple[set[str], set[str]]:
        """Write in one transaction; return the ids whose insert / update applied."""

    @abc.abstractmethod
    async def claim(
        self,
        store: Store,
        owner: str,
        lease: float,
        names: Sequence[str],
        limit: int,
    ) -> list[tuple[Row, str | None]]:
        """Lease up to ``limit`` runnable sagas; rows in CLAIMED order + previous owner."""

    @abc.abstractmethod
    async def renew(self, store: Store, owner: str, ids: Sequence[str], lease: float) -> None:
        """Extend the leases this owner still holds by ``lease`` seconds from now."""

    @abc.abstractmethod
    async def hold(self, tx: Tx, saga_id: str, epoch: int) -> bool:
        """In ``tx``: lock the saga's row; whether ``epoch`` still holds it."""

    async def update_in(self, tx: Tx, row: Update, now: float | None) -> bool:
        """One fenced transition inside the caller's transaction (a transactional step);
        ``now`` is :func:`lease_now` of the store."""
        if tx.dialect == "postgres":
            params = (*row[:8], now, *row[8:])
            return await tx.execute(_UPDATE_PG, params) == 1
        return await tx.execute(_UPDATE, _absolute(now, row, 7)) == 1

    async def park(
        self, store: Store, saga_id: str, epoch: int, error: str, marker: str, now: float
    ) -> bool:
        """Set the saga aside in ``parked`` (steps untouched: they may be what is wrong)."""
        changed = await store.execute(
            "UPDATE mitigate_sagas SET state = 'parked', error = ?, alerted = ?,"
            " lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND epoch = ?",
            (error, marker, now, saga_id, epoch),
        )
        return changed == 1

    @abc.abstractmethod
    async def release(self, store: Store, owner: str, ids: Sequence[str]) -> None:
        """Let other workers claim these sagas now (their state says where to resume)."""

    # -- shared ----------------------------------------------------------------------
    async def stuck_candidates(self, store: Store, started_before: float) -> list[Row]:
        return await store.fetch(
            "SELECT id, name, state, step, step_started_at, alerted FROM mitigate_sagas"
            f" WHERE state IN {ACTIVE} AND step_started_at <= ?",
            (started_before,),
        )

    async def mark_alerted(self, store: Store, saga_id: str, state: str, step: int) -> bool:
        marker = f"{state}:{step}"
        changed = await store.execute(
            "UPDATE mitigate_sagas SET alerted = ? WHERE id = ? AND state = ? AND step = ?"
            " AND (alerted IS NULL OR alerted <> ?)",
            (marker, saga_id, state, step, marker),
        )
        return changed == 1


class _SqliteSagaSql(SagaSql):
    _INSERT = (
        f"INSERT INTO mitigate_sagas ({COLUMNS}) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
    )

    async def write_batch(
        self, store: Store, inserts: Sequence[Insert], updates: Sequence[Update]
    ) -> tuple[set[str], set[str]]:
        inserted: set[str] = set()
        updated: set[str] = set()
        now = store.clock.wall()
        async with store.transaction() as tx:
            run = tx.connection.execute
            for row in inserts:
                if run(self._INSERT, _absolute(now, row, 9)).rowcount == 1:
                    inserted.add(row[0])
            for row in updates:
                if run(_UPDATE, _absolute(now, row, 7)).rowcount == 1:
                    updated.add(row[9])
        return inserted, updated

    async def claim(
        self,
        store: Store,
        owner: str,
        lease: float,
        names: Sequence[str],
        limit: int,
    ) -> list[tuple[Row, str | None]]:
        marks = ", ".join("?" * len(names))
        out: list[tuple[Row, str | None]] = []
        now = store.clock.wall()
        lease_until = now + lease
        async with store.transaction() as tx:
            run = tx.connection.execute
            found = run(
                "SELECT id, lease_owner FROM mitigate_sagas"
                f" WHERE state IN {ACTIVE} AND run_after <= ?"
                " AND (lease_until IS NULL OR lease_until < ?)"
                f" AND name IN ({marks}) ORDER BY run_after LIMIT ?",
                (now, now, *names, limit),
            ).fetchall()
            for saga_id, previous in found:
                row = run(
                    "UPDATE mitigate_sagas SET lease_owner = ?, lease_until = ?, epoch = epoch + 1"
                    f" WHERE id = ? RETURNING {CLAIMED}",
                    (owner, lease_until, saga_id),
                ).fetchone()
                out.append((tuple(row), previous))
        return out

    async def renew(self, store: Store, owner: str, ids: Sequence[str], lease: float) -> None:
        until = store.clock.wall() + lease
        async with store.transaction() as tx:
            tx.connection.executemany(
                "UPDATE mitigate_sagas SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                [(until, i, owner) for i in ids],
            )

    async def hold(self, tx: Tx, saga_id: str, epoch: int) -> bool:
        # BEGIN IMMEDIATE already holds the write lock: nobody can claim it meanwhile.
        row = await tx.fetchone("SELECT epoch FROM mitigate_sagas WHERE id = ?", (saga_id,))
        return row is not None and int(row[0]) == epoch

    async def release(self, store: Store, owner: str, ids: Sequence[str]) -> None:
        async with store.transaction() as tx:
            tx.connection.executemany(
                "UPDATE mitigate_sagas SET lease_until = 0 WHERE id = ? AND lease_owner = ?",
                [(i, owner) for i in ids],
            )


class _PostgresSagaSql(SagaSql):
    # New sagas and transitions in one statement: one round trip, one commit.
    _BATCH = (
        "WITH ins AS ("
        f" INSERT INTO mitigate_sagas ({COLUMNS})"
        " SELECT u.id, u.name, u.state, u.step, u.input, u.steps, u.error, u.epoch,"
        f" u.lease_owner, u.lease + {PG_NOW}, u.run_after, u.created_at, u.updated_at,"
        " u.step_started_at, u.deadline_at, u.alerted"
        " FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::jsonb[],"
        " ?::jsonb[], ?::text[], ?::bigint[], ?::text[], ?::float8[], ?::float8[], ?::float8[],"
        " ?::float8[], ?::float8[], ?::float8[], ?::text[])"
        " AS u(id, name, state, step, input, steps, error, epoch, lease_owner, lease,"
        " run_after, created_at, updated_at, step_started_at, deadline_at, alerted)"
        " ON CONFLICT (id) DO NOTHING RETURNING id),"
        " upd AS ("
        " UPDATE mitigate_sagas s SET state = v.state, step = v.step, steps = v.steps,"
        " error = v.error, updated_at = v.updated_at, step_started_at = v.step_started_at,"
        f" lease_owner = v.lease_owner, lease_until = v.lease_until + {PG_NOW},"
        " run_after = v.run_after"
        " FROM unnest(?::text[], ?::int[], ?::jsonb[], ?::text[], ?::float8[], ?::float8[],"
        " ?::text[], ?::float8[], ?::float8[], ?::text[], ?::bigint[])"
        " AS v(state, step, steps, error, updated_at, step_started_at, lease_owner,"
        " lease_until, run_after, id, epoch)"
        " WHERE s.id = v.id AND s.epoch = v.epoch RETURNING s.id)"
        " SELECT 'i', id FROM ins UNION ALL SELECT 'u', id FROM upd"
    )

    async def write_batch(
        self, store: Store, inserts: Sequence[Insert], updates: Sequence[Update]
    ) -> tuple[set[str], set[str]]:
        now = lease_now(store)
        params: list[Any] = [now]
        params += (
            [list(col) for col in zip(*inserts, strict=True)]
            if inserts
            else [[] for _ in range(16)]
        )
        params.append(now)
        params += (
            [list(col) for col in zip(*updates, strict=True)]
            if updates
            else [[] for _ in range(11)]
        )
        rows = await store.fetch(self._BATCH, params)
        inserted = {r[1] for r in rows if r[0] == "i"}
        updated = {r[1] for r in rows if r[0] == "u"}
        return inserted, updated

    async def claim(
        self,
        store: Store,
        owner: str,
        lease: float,
        names: Sequence[str],
        limit: int,
    ) -> list[tuple[Row, str | None]]:
        claimed = ", ".join(f"s.{c.strip()}" for c in CLAIMED.split(","))
        rows = await store.fetch(
            f"WITH t AS (SELECT {PG_NOW} AS now)"
            " UPDATE mitigate_sagas s SET lease_owner = ?,"
            " lease_until = (SELECT now FROM t) + ?, epoch = s.epoch + 1"
            " FROM (SELECT m.id, m.lease_owner AS previous FROM mitigate_sagas m, t"
            f" WHERE m.state IN {ACTIVE} AND m.run_after <= t.now"
            " AND (m.lease_until IS NULL OR m.lease_until < t.now) AND m.name = ANY(?)"
            " ORDER BY m.run_after LIMIT ? FOR UPDATE OF m SKIP LOCKED) c"
            f" WHERE s.id = c.id RETURNING {claimed}, c.previous",
            (lease_now(store), owner, lease, list(names), limit),
        )
        return [(tuple(r[:-1]), r[-1]) for r in rows]

    async def renew(self, store: Store, owner: str, ids: Sequence[str], lease: float) -> None:
        await store.execute(
            f"UPDATE mitigate_sagas SET lease_until = {PG_NOW} + ?"
            " WHERE id = ANY(?) AND lease_owner = ?",
            (lease_now(store), lease, list(ids), owner),
        )

    async def hold(self, tx: Tx, saga_id: str, epoch: int) -> bool:
        row = await tx.fetchone(
            "SELECT epoch FROM mitigate_sagas WHERE id = ? FOR UPDATE", (saga_id,)
        )
        return row is not None and int(row[0]) == epoch

    async def release(self, store: Store, owner: str, ids: Sequence[str]) -> None:
        await store.execute(
            "UPDATE mitigate_sagas SET lease_until = 0 WHERE id = ANY(?) AND lease_owner = ?",
            (list(ids), owner),
        )


_BY_DIALECT: dict[str, SagaSql] = {"sqlite": _SqliteSagaSql(), "postgres": _PostgresSagaSql()}


def sql_for(store: Store) -> SagaSql:
    return _BY_DIALECT[store.dialect]
