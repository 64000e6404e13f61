"""The ``store`` fixture: every durable test runs on SQLite and on PostgreSQL.

PostgreSQL cases use a fresh schema per test (dropped afterwards) so parallel runs never
collide; without a server they skip with the reason (and fail under CI=true).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from mitigate.clock import Clock, RealClock
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store
from tests.conftest import require_postgres

StoreFactory = Callable[..., Awaitable[Store]]


def unique_schema(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["sqlite", "postgres"])
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores on one database (same SQLite file / same PostgreSQL schema)."""
    opened: list[Store] = []
    dialect = request.param
    if dialect == "postgres":
        dsn = require_postgres()
        from mitigate.durable.postgres import PostgresStore

        schema = unique_schema()

        async def make(*, clock: Clock | None = None, migrate: bool = True, **kw: object) -> Store:
            store = await PostgresStore.open(
                dsn,
                schema=schema,
                clock=clock or RealClock(),
                migrate=migrate,
                **kw,  # type: ignore[arg-type]
            )
            opened.append(store)
            return store

        yield make
        for store in opened:
            await store.aclose()
        cleanup = await PostgresStore.open(dsn, schema=schema, migrate=False)
        await cleanup.drop_schema()
        await cleanup.aclose()
    else:
        path = tmp_path / "store.db"

        async def make(*, clock: Clock | None = None, migrate: bool = True, **kw: object) -> Store:
            store = await SqliteStore.open(path, clock=clock or RealClock(), migrate=migrate, **kw)  # type: ignore[arg-type]
            opened.append(store)
            return store

        yield make
        for store in opened:
            await store.aclose()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    return await store_factory()
