"""Migrations: fresh, upgrade from every earlier version, two migrators at once, failure."""

from __future__ import annotations

import asyncio

import pytest

from mitigate.durable.migrate import VERSION_TABLE, migrate
from mitigate.durable.migrations import Migration, discover
from mitigate.durable.store import Store
from mitigate.errors import ConfigError, StoreError
from tests.durable.conftest import StoreFactory


async def _schema(store: Store) -> list[tuple[object, ...]]:
    """Tables, columns and indexes, comparable between two databases of one dialect."""
    if store.dialect == "sqlite":
        rows = await store.fetch(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        )
        return [tuple(r) for r in rows]
    cols = await store.fetch(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, column_name"
    )
    idx = await store.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " ORDER BY indexname"
    )
    return [tuple(r) for r in cols] + [tuple(r) for r in idx]


def _latest() -> int:
    return discover()[-1].version


def test_discovered_migrations_are_ordered_and_unique() -> None:
    versions = [m.version for m in discover()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
    for m in discover():
        assert m.sqlite and m.postgres, f"migration {m.version} lacks a dialect"


async def test_fresh_database_reaches_the_latest_version(store_factory: StoreFactory) -> None:
    store = await store_factory(migrate=False)
    assert await store.schema_version() == 0
    assert await store.migrate() == _latest()
    assert await store.schema_version() == _latest()
    rows = await store.fetch(f"SELECT version FROM {VERSION_TABLE} ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in discover()]
    assert await store.migrate() == _latest()  # again: nothing to do, nothing breaks


async def test_upgrade_from_every_earlier_version_matches_fresh(
    store_factory: StoreFactory,
) -> None:
    fresh = await store_factory(migrate=False)
    await fresh.migrate()
    expected = await _schema(fresh)
    # Same database: take it apart by version and rebuild it from each earlier version.
    # Every earlier version there is (versions come in blocks per area, with gaps).
    for start in [0, *(m.version for m in discover()[:-1])]:
        await _drop_everything(fresh)
        assert await fresh.migrate(target=start) == start
        assert await fresh.schema_version() == start
        assert await fresh.migrate() == _latest()
        assert await _schema(fresh) == expected, f"upgrade from version {start} differs"


async def _drop_everything(store: Store) -> None:
    if store.dialect == "sqlite":
        names = await store.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        for (name,) in names:
            await store.execute(f"DROP TABLE {name}")
    else:
        await store.execute(f"DROP SCHEMA {store.schema} CASCADE")  # type: ignore[attr-defined]


async def test_two_migrators_at_once_apply_each_version_once(
    store_factory: StoreFactory,
) -> None:
    a = await store_factory(migrate=False)
    b = await store_factory(migrate=False)
    gate = asyncio.Event()
    applied: list[str] = []
    slow = [
        *discover(),
        Migration(
            version=900,
            name="probe",
            sqlite=("CREATE TABLE probe (n INTEGER)", "INSERT INTO probe VALUES (1)"),
            postgres=("CREATE TABLE probe (n INTEGER)", "INSERT INTO probe VALUES (1)"),
        ),
    ]

    async def run(store: Store, who: str) -> int:
        await gate.wait()
        version = await migrate(store, slow)
        applied.append(who)
        return version

    tasks = [asyncio.create_task(run(a, "a")), asyncio.create_task(run(b, "b"))]
    gate.set()
    assert await asyncio.gather(*tasks) == [900, 900]
    assert await a.fetch("SELECT count(*) FROM probe") == [(1,)]
    rows = await a.fetch(f"SELECT count(*) FROM {VERSION_TABLE} WHERE version = 900")
    assert rows == [(1,)]


async def test_two_processes_migrating_one_sqlite_file(tmp_path: object) -> None:
    # Two separate connections (as two processes would have) racing on one file.
    from mitigate.durable.sqlite import SqliteStore

    path = f"{tmp_path}/race.db"
    stores = [SqliteStore(path), SqliteStore(path)]
    versions = await asyncio.gather(*(s.migrate() for s in stores))
    assert versions == [_latest(), _latest()]
    for s in stores:
        await s.aclose()


async def test_failed_migration_leaves_the_version_unchanged(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory(migrate=True)
    before = await _schema(store)
    broken = Migration(
        version=901,
        name="broken",
        sqlite=("CREATE TABLE half (n INTEGER)", "CREATE TABLE half (n INTEGER)"),
        postgres=("CREATE TABLE half (n INTEGER)", "CREATE TABLE half (n INTEGER)"),
    )
    with pytest.raises(StoreError) as info:
        await migrate(store, [*discover(), broken])
    assert info.value.code == "MITIGATE.STORE.MIGRATION"
    assert "migration 901 broken" in str(info.value)
    assert await store.schema_version() == _latest()
    assert await _schema(store) == before  # the first statement was rolled back too
    # Fixing the file and running again applies it.
    fixed = Migration(
        version=901,
        name="fixed",
        sqlite=("CREATE TABLE half (n INTEGER)",),
        postgres=("CREATE TABLE half (n INTEGER)",),
    )
    assert await migrate(store, [*discover(), fixed]) == 901


def test_a_migration_needs_a_positive_version() -> None:
    with pytest.raises(ConfigError):
        Migration(version=0, name="zero", sqlite=(), postgres=())
