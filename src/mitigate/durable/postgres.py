"""PostgreSQL store: psycopg 3, async, pooled (``pip install mitigate[postgres]``).

Every store lives in its own schema (``schema="mitigate"`` by default): the pool sets
``search_path`` on each connection, so the same SQL runs in any schema and tests can use
a throwaway schema each. Connections run in autocommit mode; :meth:`PostgresStore.transaction`
opens an explicit transaction, and :meth:`PostgresStore.execute` / :meth:`PostgresStore.fetch`
send one statement that commits by itself (one round trip).

Durability is PostgreSQL's own: ``synchronous_commit`` is left at the server's setting
(``on`` unless you changed it: a commit returns once its WAL is flushed to disk) unless
you pass ``synchronous_commit="off"`` (a crash of the *server* may lose the last few
hundred milliseconds of commits; a crash of a worker loses nothing).

JSONB columns come back as text on both databases, so callers decode JSON the same way.
Driver errors surface as :class:`~mitigate.StoreError` (``MITIGATE.STORE.DATA``: the row
was refused; ``MITIGATE.STORE.UNAVAILABLE``: the server or pool is unreachable).

Leases are compared on the database's clock (``clock_timestamp()``), not each worker's:
see :attr:`PostgresStore.database_clock`.

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mitigate.clock import Clock, RealClock, default_clock, io_hold
from mitigate.durable._store_base import StoreBase, wrong_connection
from mitigate.durable.errors import StoreConfigError, StoreOpenError, store_error
from mitigate.durable.store import Dialect, Row

__all__ = ["PostgresStore", "PostgresTx", "to_psycopg"]

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SYNC_COMMIT = (None, "on", "off", "local", "remote_write", "remote_apply")


@lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """Translate ``?`` placeholders to ``%s`` and escape literal ``%``, outside quotes.

    >>> to_psycopg("SELECT * FROM t WHERE a = ? AND b LIKE 'x%?' AND c = ?")
    "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%?' AND c = %s"
    """
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class PostgresTx:
    """A :class:`~mitigate.durable.store.Tx` over an open ``psycopg.AsyncConnection``."""

    __slots__ = ("_conn",)

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._conn = connection

    @property
    def dialect(self) -> Dialect:
        return "postgres"

    @property
    def connection(self) -> psycopg.AsyncConnection[Any]:
        return self._conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            cur = await self._conn.execute(to_psycopg(sql), params)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            async with self._conn.cursor() as cur:
                await cur.executemany(to_psycopg(sql), rows)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            cur = await self._conn.execute(to_psycopg(sql), params)
            row: Row | None = await cur.fetchone()
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            cur = await self._conn.execute(to_psycopg(sql), params)
            return await cur.fetchall()
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc


class PostgresStore(StoreBase):
    """A pooled PostgreSQL store in one schema.

    >>> PostgresStore("postgresql://127.0.0.1/postgres", schema="Bad-Name")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.StoreConfigError: [MITIGATE.CONFIG.STORE] postgres: schema ...

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "mitigate",
        min_size: int = 1,
        max_size: int = 10,
        synchronous_commit: str | None = None,
        clock: Clock | None = None,
        database_clock: bool | None = None,
        pool_timeout: float = 30.0,
    ) -> None:
        if not _SCHEMA.match(schema):
            raise StoreConfigError(
                "postgres",
                f"schema {schema!r} is not a plain lower-case identifier",
                hint="use letters, digits and _",
            )
        if synchronous_commit not in _SYNC_COMMIT:
            raise StoreConfigError(
                "postgres",
                f"synchronous_commit {synchronous_commit!r} is not one of {_SYNC_COMMIT[1:]}",
            )
        self.dsn = dsn
        self.schema = schema
        self.synchronous_commit = synchronous_commit
        self._clock = clock or default_clock()
        # Leases on the server's clock unless the store runs on a virtual clock (tests,
        # experiments): then the virtual clock is the only time there is.
        self.database_clock = (
            isinstance(self._clock, RealClock) if database_clock is None else database_clock
        )
        self._commits = 0
        options = f"-c search_path={schema}"
        if synchronous_commit is not None:
            options += f" -c synchronous_commit={synchronous_commit}"
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "options": options},
            configure=_configure,
            open=False,
            timeout=pool_timeout,  # a call's wait for a working connection
            name=f"mitigate.{schema}",
        )

    @property
    def create_schema_sql(self) -> str:
        # Used by the migration runner under its advisory lock.
        return f"CREATE SCHEMA IF NOT EXISTS {self.schema}"

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "mitigate",
        min_size: int = 1,
        max_size: int = 10,
        synchronous_commit: str | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
        connect_timeout: float = 10.0,
        database_clock: bool | None = None,
        pool_timeout: float = 30.0,
    ) -> PostgresStore:
        """Open the pool (waiting for ``min_size`` connections) and apply migrations."""
        store = cls(
            dsn,
            schema=schema,
            min_size=min_size,
            max_size=max_size,
            synchronous_commit=synchronous_commit,
            clock=clock,
            database_clock=database_clock,
            pool_timeout=pool_timeout,
        )
        try:
            await store._pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            await store._pool.close()
            raise StoreOpenError(
                "postgres",
                f"cannot connect: {exc}",
                hint="check the DSN and that PostgreSQL accepts connections",
            ) from exc
        if migrate:
            await store.migrate()
        return store

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    @property
    def dialect(self) -> Dialect:
        return "postgres"

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Borrow a pooled connection (autocommit, ``search_path`` set to the schema)."""
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[PostgresTx]:
        # A virtual clock stays still while the transaction waits on the server.
        try:
            with io_hold(self._clock):
                async with self._pool.connection() as conn, conn.transaction():
                    if not durable:  # this transaction only: the commit skips the WAL wait
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    yield PostgresTx(conn)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc
        self._commits += 1

    def adopt(self, connection: Any) -> PostgresTx:
        if not isinstance(connection, psycopg.AsyncConnection):
            raise wrong_connection("postgres", "psycopg.AsyncConnection", connection)
        return PostgresTx(connection)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            with io_hold(self._clock):
                async with self._pool.connection() as conn:
                    cur = await conn.execute(to_psycopg(sql), params)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc
        if _is_write(sql):
            self._commits += 1
        return cur.rowcount

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            with io_hold(self._clock):
                async with self._pool.connection() as conn:
                    cur = await conn.execute(to_psycopg(sql), params)
                    rows = await cur.fetchall() if cur.description is not None else []
        except _DRIVER_ERRORS as exc:
            raise store_error(exc, "postgres") from exc
        if _is_write(sql):
            self._commits += 1
        return rows

    async def drop_schema(self) -> None:
        """Drop the store's schema and everything in it (tests and teardown only)."""
        await self.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    async def aclose(self) -> None:
        await self._pool.close()


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # JSONB as text: both dialects hand JSON back as a string the caller decodes once.
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("json", TextLoader)


# psycopg's errors, the pool's timeout, and what encoding a parameter can raise.
_DRIVER_ERRORS = (psycopg.Error, PoolTimeout, UnicodeError)

_WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE)\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def _is_write(sql: str) -> bool:
    # Only for the commit counter benchmarks print.
    return _WRITE.search(sql) is not None
