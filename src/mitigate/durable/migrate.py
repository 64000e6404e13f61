"""The migration runner: forward-only, one transaction per version, safe to run twice at once.

It runs mitigate's own migrations and, with ``namespace=``, a service's own schema beside
them: ``await migrate(store, CONTENT_MIGRATIONS, namespace="content")``. Each namespace has
its own version sequence (``mitigate_namespace_version`` holds one row per namespace and
version), so a service numbers its migrations from 1 and never collides with mitigate's.

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

A service's own schema, versioned in its namespace:

>>> content = [Migration(1, "drafts", sqlite=("CREATE TABLE drafts (id TEXT PRIMARY KEY)",),
...                      postgres=("CREATE TABLE drafts (id TEXT PRIMARY KEY)",))]
>>> async def service() -> tuple[int, int]:
...     store = await SqliteStore.open(":memory:")
...     first = await migrate(store, content, namespace="content")
...     again = await migrate(store, content, namespace="content")
...     await store.aclose()
...     return first, again
>>> asyncio.run(service())
(1, 1)

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mitigate.durable.errors import StoreMigrationError
from mitigate.durable.migrations import Migration, discover
from mitigate.durable.store import Store, Tx
from mitigate.errors import ConfigError, StoreError

__all__ = ["NAMESPACE_TABLE", "VERSION_TABLE", "Migration", "applied_versions", "migrate"]

VERSION_TABLE = "mitigate_schema_version"
NAMESPACE_TABLE = "mitigate_namespace_version"
OWN_NAMESPACE = "mitigate"
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_CREATE_VERSION_TABLE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)",
    "postgres": f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
}

_CREATE_NAMESPACE_TABLE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {NAMESPACE_TABLE} ("
    "namespace TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
    " applied_at REAL NOT NULL, PRIMARY KEY (namespace, version))",
    "postgres": f"CREATE TABLE IF NOT EXISTS {NAMESPACE_TABLE} ("
    "namespace TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
    " applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (namespace, version))",
}


class _Book:
    """Where a namespace's applied versions are kept: mitigate's own table or the shared one."""

    def __init__(self, namespace: str | None) -> None:
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise ConfigError(
                None,
                f"migration namespace {namespace!r} is not a plain lower-case identifier",
                hint="use a service name such as 'content'",
                code="MITIGATE.CONFIG.MIGRATION",
            )
        self.own = namespace in (None, OWN_NAMESPACE)
        self.namespace = OWN_NAMESPACE if namespace is None else namespace

    def create(self, dialect: str) -> str:
        return (_CREATE_VERSION_TABLE if self.own else _CREATE_NAMESPACE_TABLE)[dialect]

    def where(self) -> tuple[str, tuple[str, ...]]:
        if self.own:
            return VERSION_TABLE, ()
        return f"{NAMESPACE_TABLE} WHERE namespace = ?", (self.namespace,)

    def has(self, version: int) -> tuple[str, tuple[object, ...]]:
        if self.own:
            return f"SELECT 1 FROM {VERSION_TABLE} WHERE version = ?", (version,)
        return (
            f"SELECT 1 FROM {NAMESPACE_TABLE} WHERE namespace = ? AND version = ?",
            (self.namespace, version),
        )

    def record(self, migration: Migration, at: float) -> tuple[str, tuple[object, ...]]:
        if self.own:
            return (
                f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, at),
            )
        return (
            f"INSERT INTO {NAMESPACE_TABLE} (namespace, version, name, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (self.namespace, migration.version, migration.name, at),
        )


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


async def applied_versions(store: Store, *, namespace: str | None = None) -> set[int]:
    """The versions recorded for ``namespace`` (mitigate's own when ``None``; empty at first)."""
    book = _Book(namespace)
    async with store.transaction() as tx:
        await _lock(store, tx)
        await tx.execute(book.create(store.dialect))
        table, params = book.where()
        rows = await tx.fetchall(f"SELECT version FROM {table}", params)
    return {int(r[0]) for r in rows}


async def migrate(
    store: Store,
    migrations: Sequence[Migration] | None = None,
    *,
    target: int | None = None,
    namespace: str | None = None,
) -> int:
    """Apply every pending migration up to ``target`` (all when ``None``); return the version.

    Without ``namespace`` these are mitigate's own migrations (all shipped ones when
    ``migrations`` is ``None``). With ``namespace="content"`` they are a service's own,
    versioned separately; ``migrations`` is then required.
    """
    book = _Book(namespace)
    if migrations is None and not book.own:
        raise ConfigError(
            None,
            f"migrate(namespace={namespace!r}) needs the namespace's migrations",
            hint="pass the service's list of Migration objects",
            code="MITIGATE.CONFIG.MIGRATION",
        )
    chosen = sorted(discover() if migrations is None else migrations)
    _check(chosen, book, store.dialect)
    done = await applied_versions(store, namespace=namespace)
    for migration in chosen:
        if target is not None and migration.version > target:
            break
        if migration.version in done:
            continue
        await _apply(store, migration, book)
        done.add(migration.version)
    return max(done, default=0)


def _check(chosen: Sequence[Migration], book: _Book, dialect: str) -> None:
    """Refuse a list that would record a version without running it (before touching the DB)."""
    versions = [m.version for m in chosen]
    if len(versions) != len(set(versions)):
        raise ConfigError(
            None,
            f"namespace {book.namespace!r}: two migrations share a version: {versions}",
            hint="give the newer migration the next free version",
            code="MITIGATE.CONFIG.MIGRATION",
        )
    for m in chosen:
        if not m.statements(dialect):
            raise ConfigError(
                None,
                f"namespace {book.namespace!r}: migration {m.version} {m.name!r}"
                f" has no {dialect} statements",
                hint="give every migration both sqlite= and postgres= statements",
                code="MITIGATE.CONFIG.MIGRATION",
            )


async def _apply(store: Store, migration: Migration, book: _Book) -> None:
    statement = ""
    where_ns = "" if book.own else f" (namespace {book.namespace})"
    try:
        async with store.transaction() as tx:
            await _lock(store, tx)
            sql, params = book.has(migration.version)
            if await tx.fetchone(sql, params) is not None:
                return  # another migrator applied it while we waited for the lock
            for statement in migration.statements(store.dialect):
                await tx.execute(statement)
            statement = ""
            sql, params = book.record(migration, store.clock.wall())
            await tx.execute(sql, params)
    except Exception as exc:
        if isinstance(exc, StoreError) and exc.code == "MITIGATE.STORE.MIGRATION":
            raise
        # Driver errors arrive as StoreError (STORE.DATA, STORE.ERROR): name the migration.
        where = f" at: {statement.strip()[:120]}" if statement else ""
        raise StoreMigrationError(
            f"migration {migration.version} {migration.name}{where_ns}",
            f"failed and was rolled back; the schema stays at the previous version{where} ({exc})",
            hint="fix the migration file and open the store again",
        ) from exc
