"""The durable store: one protocol, two databases.

A :class:`Store` hands out transactions (:class:`Tx`) that speak one SQL dialect subset
with ``?`` placeholders on both SQLite and PostgreSQL. Every area that keeps durable state
(sagas, outbox, inbox, DLQ, idempotency keys) writes through it, and adds its tables as a
versioned migration file under ``mitigate/durable/migrations/``.

Two ways in:

* ``async with store.transaction() as tx:`` runs a transaction the store opens and commits
  (rolls back on error). ``tx.connection`` is the raw connection if you need it.
* ``store.adopt(connection)`` wraps the *caller's own* open connection (a
  ``sqlite3.Connection`` or a ``psycopg.AsyncConnection``) in a :class:`Tx` without
  beginning or committing anything, so an outbox row lands in the caller's transaction.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> int:
...     store = await SqliteStore.open(":memory:")
...     async with store.transaction() as tx:
...         await tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
...         await tx.execute("INSERT INTO t VALUES (?, ?)", ("a", 1))
...     rows = await store.fetch("SELECT v FROM t WHERE k = ?", ("a",))
...     await store.aclose()
...     return rows[0][0]
>>> asyncio.run(main())
1

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, runtime_checkable

from mitigate.clock import Clock
from mitigate.durable.errors import NotJsonError

__all__ = [
    "TERMINAL_STATES",
    "Dialect",
    "Row",
    "Store",
    "Tx",
    "dumps",
    "loads",
]

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]

# States a saga never leaves by itself (kept here: both the worker and the CLI read them).
TERMINAL_STATES = ("completed", "compensated", "compensation_failed", "parked")


@runtime_checkable
class Tx(Protocol):
    """One open transaction. SQL uses ``?`` placeholders on both databases.

    On PostgreSQL the ``?`` is translated to psycopg's ``%s`` (outside quoted strings),
    so the jsonb ``?`` operators are not available here: use ``jsonb_exists()`` or
    ``tx.connection`` directly.
    """

    @property
    def dialect(self) -> Dialect: ...

    @property
    def connection(self) -> Any:
        """The raw connection: ``sqlite3.Connection`` or ``psycopg.AsyncConnection``."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


@runtime_checkable
class Store(Protocol):
    """A durable store: transactions, one-statement shortcuts, migrations.

    ``commits`` counts the transactions this store object committed (benchmarks report it).
    """

    @property
    def dialect(self) -> Dialect: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def commits(self) -> int: ...

    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[Tx]:
        """Begin a write transaction; commit on exit, roll back on error.

        ``durable=False``: the commit need not be on disk when it returns (SQLite
        ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off`` for this transaction
        only). It is atomic and ordered like any other: a crash may lose it, never tear it,
        and the next durable commit makes it durable too. For writes that are harmless to
        lose (a claim the caller re-takes when it is gone)."""
        ...

    def adopt(self, connection: Any) -> Tx:
        """Wrap the caller's own open connection; the caller begins and commits."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One statement (a read, or a write with RETURNING) in its own transaction."""
        ...

    async def migrate(self, *, target: int | None = None) -> int:
        """Apply pending migrations (up to ``target``); return the schema version."""
        ...

    async def schema_version(self) -> int:
        """The highest migration version applied (0 on an empty database)."""
        ...

    async def aclose(self) -> None: ...


def dumps(value: Any, *, what: str = "value", target: str | None = None) -> str:
    """Encode ``value`` as compact JSON both databases can hold, or raise a StoreError
    (``MITIGATE.STORE.NOT_JSON``) that says what failed.

    Valid JSON is not always storable: PostgreSQL's JSONB refuses ``\\u0000`` and UTF-8
    refuses lone surrogates, and a value nested thousands deep cannot even be encoded.
    They are refused here, before any write, so one bad value never fails a whole batch.

    >>> dumps({"draft": "d1", "n": 2})
    '{"draft":"d1","n":2}'
    >>> dumps({"at": object()}, what="input of saga content.publish")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.NotJsonError: [MITIGATE.STORE.NOT_JSON] input of saga content.publish is not JSON: ...
    >>> dumps("a" + chr(0) + "b", what="result of step x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.NotJsonError: [MITIGATE.STORE.NOT_JSON] result of step x holds a NUL character...
    """
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except RecursionError:
        raise NotJsonError(target, f"{what} is nested too deep to encode") from None
    except (TypeError, ValueError) as exc:
        raise NotJsonError(target, f"{what} is not JSON: {exc}") from exc
    if "\\u0000" in text and _NUL.search(text):
        raise NotJsonError(target, f"{what} holds a NUL character (\\u0000) the store refuses")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NotJsonError(target, f"{what} holds a lone surrogate: {exc.reason}") from None
    return text


# \u0000 as an escape, not as an escaped backslash followed by "u0000".
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def loads(text: str | bytes | None) -> Any:
    """Decode JSON written by :func:`dumps` (``None`` stays ``None``).

    >>> loads('{"a":[1,2]}')
    {'a': [1, 2]}
    """
    if text is None:
        return None
    return json.loads(text)
