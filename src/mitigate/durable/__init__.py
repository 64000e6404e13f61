"""Durable state on SQLite (embedded default) or PostgreSQL: the store, migrations, sagas.

``open_store(url)`` picks the implementation from the URL:

* ``sqlite:///path/to/file.db`` or a plain path (``sqlite:///:memory:`` for a throwaway),
  with ``?durability=normal`` to trade power-cut safety for speed;
* ``postgresql://user@host/db?schema=name`` (needs the ``postgres`` extra).

>>> import asyncio
>>> async def main() -> str:
...     store = await open_store("sqlite:///:memory:")
...     await store.aclose()
...     return store.dialect
>>> asyncio.run(main())
'sqlite'

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from mitigate.clock import Clock
from mitigate.durable.errors import StoreConfigError
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import TERMINAL_STATES, Store, Tx, dumps, loads

if TYPE_CHECKING:
    from mitigate.durable.postgres import PostgresStore

__all__ = [
    "TERMINAL_STATES",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "Tx",
    "dumps",
    "loads",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # PostgreSQL support is an optional extra: import psycopg only when asked for.
    if name == "PostgresStore":
        from mitigate.durable.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _require_file(url: str, path: str) -> None:
    if path not in ("", ":memory:") and not os.path.exists(path):
        raise StoreConfigError(
            url,
            f"no store at {path}",
            hint="pass --store (or set MITIGATE_STORE) to the database the service uses",
        )


async def open_store(
    url: str, *, clock: Clock | None = None, migrate: bool = True, must_exist: bool = False
) -> Store:
    """Open (and migrate) the store a URL names.

    PostgreSQL URLs take ``schema=`` (default ``mitigate``) and ``pool_timeout=`` (seconds
    a call waits for a working connection before :class:`StoreUnavailableError`; default
    30; a service that must fail over fast sets a few seconds); other query parameters go
    to libpq (``connect_timeout=2``).

    With ``must_exist`` a SQLite file that is not there is an error instead of a new,
    empty database (commands that only read must not leave one behind).

    >>> import asyncio
    >>> asyncio.run(open_store("mysql://x"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.StoreConfigError: [MITIGATE.CONFIG.STORE] mysql://x: unknown ...
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme in ("", "sqlite"):
        path = parts.path if parts.scheme == "" else (parts.netloc + parts.path)
        if parts.scheme == "sqlite" and path.startswith("/"):
            # As SQLAlchemy reads it: sqlite:///rel.db is relative, sqlite:////abs.db absolute.
            path = path[1:]
        if must_exist:
            _require_file(url, path)
        durability = query.get("durability", "full")
        if durability not in ("full", "normal"):
            raise StoreConfigError(url, "durability must be full or normal")
        return await SqliteStore.open(
            path,
            durability="normal" if durability == "normal" else "full",
            clock=clock,
            migrate=migrate,
        )
    if parts.scheme in ("postgresql", "postgres"):
        try:
            from mitigate.durable.postgres import PostgresStore
        except ImportError as exc:
            raise StoreConfigError(
                url, "PostgreSQL support is not installed", hint="pip install 'mitigate[postgres]'"
            ) from exc
        schema = query.pop("schema", "mitigate")
        pool_timeout = _seconds(url, "pool_timeout", query.pop("pool_timeout", "30"))
        dsn = url.split("?", 1)[0]
        rest = "&".join(f"{k}={v}" for k, v in query.items())
        return await PostgresStore.open(
            dsn + (f"?{rest}" if rest else ""),
            schema=schema,
            clock=clock,
            migrate=migrate,
            pool_timeout=pool_timeout,
        )
    raise StoreConfigError(
        url,
        "unknown store URL",
        hint="use sqlite:///path.db or postgresql://user@host/db?schema=name",
    )


def _seconds(url: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StoreConfigError(url, f"{name} must be seconds > 0, not {text!r}")
    return value
