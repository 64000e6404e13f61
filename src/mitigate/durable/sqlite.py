"""SQLite store: the embedded default. WAL journal, one writer, explicit durability.

Durability is a choice you make when opening the store, not a hidden default:

``durability="full"`` (the default)
    ``PRAGMA synchronous=FULL``: every commit is fsynced before it returns, so a committed
    saga step survives a power cut or an OS crash. About 5,000 commits/s on an SSD.
``durability="normal"``
    ``PRAGMA synchronous=NORMAL``: in WAL mode a commit survives a crash of the *process*
    (the case the saga crash contract is about) but the last commits before a power cut or
    OS crash may be lost. About 10x more commits/s.

Every transaction starts with ``BEGIN IMMEDIATE``: SQLite has one writer at a time, and
taking the write lock up front means two processes never deadlock upgrading a read lock.
``busy_timeout`` makes a second process wait for the lock instead of failing.

Waiting for the lock never blocks the event loop. Each call that takes the lock (``BEGIN
IMMEDIATE``, ``COMMIT``, the one-statement :meth:`SqliteStore.execute` /
:meth:`SqliteStore.fetch`) is first tried at once with no wait: when the lock is free (the
common case) it runs inline, which costs microseconds, less than a thread hop. When another
process holds the lock, the call is handed to the store's own thread, which waits up to
``busy_timeout`` there while heartbeats and timers keep running on the loop. Statements
*inside* a transaction already hold the lock and run inline. Tasks of one store share one
connection; an asyncio lock gives each transaction the connection to itself.

A failed ``COMMIT`` (a deferred constraint, a full disk) rolls back, so the connection is
usable for the next transaction. Driver errors surface as :class:`~mitigate.StoreError`
(``MITIGATE.STORE.DATA``: the row was refused; ``MITIGATE.STORE.UNAVAILABLE``: locked or
unreachable, retry later).

On a virtual clock the calls run inline instead: a virtual clock jumps whenever the loop
looks idle, and a loop waiting for a thread looks idle (``threaded=`` overrides).

>>> import asyncio
>>> async def main() -> tuple[str, int]:
...     store = await SqliteStore.open(":memory:", durability="normal")
...     version = await store.schema_version()
...     await store.aclose()
...     return store.durability, version >= 1
>>> asyncio.run(main())
('normal', True)

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from mitigate.clock import Clock, RealClock, default_clock
from mitigate.durable._store_base import StoreBase, wrong_connection
from mitigate.durable.errors import StoreConfigError, StoreOpenError, store_error
from mitigate.durable.store import Dialect, Row

__all__ = ["Durability", "SqliteStore", "SqliteTx"]

Durability = Literal["full", "normal"]
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
T = TypeVar("T")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class SqliteTx:
    """A :class:`~mitigate.durable.store.Tx` over an open ``sqlite3.Connection``."""

    __slots__ = ("_conn",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise store_error(exc, "sqlite") from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise store_error(exc, "sqlite") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            row: Row | None = self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise store_error(exc, "sqlite") from exc
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise store_error(exc, "sqlite") from exc

    # Synchronous twins for the hot path of code that already holds the connection.
    def run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)


class SqliteStore(StoreBase):
    """The embedded store on one SQLite file (``":memory:"`` for a throwaway one).

    >>> SqliteStore(":memory:", durability="fast")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.StoreConfigError: [MITIGATE.CONFIG.STORE] sqlite: durability ...

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "full",
        busy_timeout: float = 10.0,
        clock: Clock | None = None,
        threaded: bool | None = None,
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise StoreConfigError(
                "sqlite", f"durability must be 'full' or 'normal', not {durability!r}"
            )
        self.path = str(path)
        self.durability: Durability = durability
        self._clock = clock or default_clock()
        self.threaded = isinstance(self._clock, RealClock) if threaded is None else threaded
        self._commits = 0
        self._lock = asyncio.Lock()
        # One thread owns the blocking calls (lock waits, fsyncs), in order.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mitigate-sqlite")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self._busy_ms = int(busy_timeout * 1000)
            # Threaded: calls fail fast when locked, and only the store's thread waits.
            self._conn.execute(f"PRAGMA busy_timeout = {0 if self.threaded else self._busy_ms}")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[durability]}")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            self._thread.shutdown(wait=False)
            raise StoreOpenError(
                "sqlite",
                f"cannot open {self.path}: {exc}",
                hint="check the path exists and is writable",
            ) from exc

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        durability: Durability = "full",
        busy_timeout: float = 10.0,
        clock: Clock | None = None,
        migrate: bool = True,
        threaded: bool | None = None,
    ) -> SqliteStore:
        """Open the file and apply pending migrations (unless ``migrate=False``)."""
        store = cls(
            path, durability=durability, busy_timeout=busy_timeout, clock=clock, threaded=threaded
        )
        if migrate:
            await store.migrate()
        return store

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r}, durability={self.durability!r})"

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's own connection (use it only inside :meth:`transaction`)."""
        return self._conn

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call on the store's thread; a cancelled caller still waits for
        it to end (the connection must never be used by two threads at once)."""
        if not self.threaded:
            return fn(*args)
        future = asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait((future,))
            raise

    async def _locking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a call that takes the write lock: at once when the lock is free, else on the
        store's thread, waiting up to ``busy_timeout`` there (off the event loop)."""
        if not self.threaded:
            return fn(*args)
        try:
            return fn(*args)  # busy_timeout is 0: raises at once if another process holds it
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        return await self._off_loop(self._waiting, fn, *args)

    def _waiting(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        try:
            return fn(*args)
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.rollback()

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[SqliteTx]:
        async with self._lock:
            conn = self._conn
            # A commit that need not be on disk skips FULL's fsync; WAL frames stay in
            # order, so the next fsynced commit carries this one with it.
            lazy = not durable and self.durability == "full"
            if lazy:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                try:
                    await self._locking(conn.execute, "BEGIN IMMEDIATE")
                except asyncio.CancelledError:
                    await self._off_loop(self._rollback)  # BEGIN may have landed after all
                    raise
                except sqlite3.Error as exc:
                    raise store_error(exc, "sqlite") from exc
                try:
                    yield SqliteTx(conn)
                except BaseException as exc:
                    await asyncio.shield(self._off_loop(self._rollback))
                    if isinstance(exc, sqlite3.Error):
                        raise store_error(exc, "sqlite") from exc
                    raise
                try:
                    await self._locking(conn.execute, "COMMIT")
                except BaseException as exc:
                    # A failed COMMIT leaves the transaction open: roll it back so the
                    # connection serves the next transaction.
                    await asyncio.shield(self._off_loop(self._rollback))
                    if isinstance(exc, sqlite3.Error):
                        raise store_error(exc, "sqlite") from exc
                    raise
                self._commits += 1
            finally:
                if lazy:
                    conn.execute("PRAGMA synchronous = FULL")

    def adopt(self, connection: Any) -> SqliteTx:
        if not isinstance(connection, sqlite3.Connection):
            raise wrong_connection("sqlite", "sqlite3.Connection", connection)
        return SqliteTx(connection)

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        before = self._conn.total_changes
        count = self._conn.execute(sql, params).rowcount
        if self._conn.total_changes != before:
            self._commits += 1
        return count

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        before = self._conn.total_changes
        rows = self._conn.execute(sql, params).fetchall()
        if self._conn.total_changes != before:
            self._commits += 1
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            try:
                return await self._locking(self._execute, sql, params)
            except sqlite3.Error as exc:
                raise store_error(exc, "sqlite") from exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            try:
                return await self._locking(self._fetch, sql, params)
            except sqlite3.Error as exc:
                raise store_error(exc, "sqlite") from exc

    async def aclose(self) -> None:
        async with self._lock:
            await self._off_loop(self._conn.close)
        self._thread.shutdown(wait=False)
