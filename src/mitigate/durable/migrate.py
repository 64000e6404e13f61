"""The migration runner: forward-only, one transaction per version, safe to run twice at once.

``mitigate_schema_version`` holds one row per applied version. The runner reads which
versions are applied, then for each pending one opens a transaction, takes the migration
lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``, the single
writer), checks again that nobody applied it meanwhile, runs its statements and inserts its
version row, and commits. A statement that fails rolls the whole version back and raises
:class:`~mitigate.StoreError` (``MITIGATE.STORE.MIGRATION``) naming the version.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> tuple[int, int]:
...     store = SqliteStore(":memory:")
...     before = await store.schema_version()
...     after = await migrate(store)
...     await store.aclose()
...     return before, after >= 1
>>> asyncio.run(main())
(0, True)

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence

from mitigate.durable.errors import StoreMigrationError
from mitigate.durable.migrations import Migration, discover
from mitigate.durable.store import Store, Tx
from mitigate.errors import StoreError

__all__ = ["VERSION_TABLE", "applied_versions", "migrate"]

VERSION_TABLE = "mitigate_schema_version"

_CREATE_VERSION_TABLE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)",
    "postgres": f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
}


async def _lock(store: Store, tx: Tx) -> None:
    if store.dialect == "postgres":
        schema = getattr(store, "schema", "")
        await tx.fetchone(
            "SELECT pg_advisory_xact_lock(hashtext(?))", (f"mitigate.migrate:{schema}",)
        )
        schema_sql = getattr(store, "create_schema_sql", None)
        if schema_sql:
            await tx.execute(schema_sql)
    # SQLite: the store's transactions start with BEGIN IMMEDIATE, the single writer lock.


async def applied_versions(store: Store) -> set[int]:
    """The versions recorded in the version table (empty when it does not exist yet)."""
    async with store.transaction() as tx:
        await _lock(store, tx)
        await tx.execute(_CREATE_VERSION_TABLE[store.dialect])
        rows = await tx.fetchall(f"SELECT version FROM {VERSION_TABLE}")
    return {int(r[0]) for r in rows}


async def migrate(
    store: Store, migrations: Sequence[Migration] | None = None, *, target: int | None = None
) -> int:
    """Apply every pending migration up to ``target`` (all when ``None``); return the version."""
    chosen = sorted(discover() if migrations is None else migrations)
    done = await applied_versions(store)
    for migration in chosen:
        if target is not None and migration.version > target:
            break
        if migration.version in done:
            continue
        await _apply(store, migration)
        done.add(migration.version)
    return max(done, default=0)


async def _apply(store: Store, migration: Migration) -> None:
    statement = ""
    try:
        async with store.transaction() as tx:
            await _lock(store, tx)
            again = await tx.fetchone(
                f"SELECT 1 FROM {VERSION_TABLE} WHERE version = ?", (migration.version,)
            )
            if again is not None:
                return  # another migrator applied it while we waited for the lock
            for statement in migration.statements(store.dialect):
                await tx.execute(statement)
            statement = ""
            await tx.execute(
                f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, store.clock.wall()),
            )
    except StoreError as exc:
        if exc.code == "MITIGATE.STORE.MIGRATION":
            raise
        where = f" at: {statement.strip()[:120]}" if statement else ""
        raise _failed(migration, where, exc) from exc
    except Exception as exc:
        where = f" at: {statement.strip()[:120]}" if statement else ""
        raise _failed(migration, where, exc) from exc


def _failed(migration: Migration, where: str, exc: BaseException) -> StoreError:
    return StoreMigrationError(
        f"migration {migration.version} {migration.name}",
        f"failed and was rolled back; the schema stays at the previous version{where} ({exc})",
        hint="fix the migration file and open the store again",
    )
