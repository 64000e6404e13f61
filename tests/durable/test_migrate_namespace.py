"""A service's own migrations: versioned per namespace, beside mitigate's own tables."""

from __future__ import annotations

import asyncio

import pytest

import mitigate
from mitigate.durable.migrate import NAMESPACE_TABLE, applied_versions
from mitigate.durable.migrations import discover
from tests.durable.conftest import StoreFactory


def _m(version: int, name: str, *sql: str) -> mitigate.Migration:
    return mitigate.Migration(version, name, sqlite=sql, postgres=sql)


CONTENT = [
    _m(1, "drafts", "CREATE TABLE content_drafts (id TEXT PRIMARY KEY, body TEXT NOT NULL)"),
    _m(2, "draft_title", "ALTER TABLE content_drafts ADD COLUMN title TEXT"),
]
THEME = [_m(1, "themes", "CREATE TABLE theme_themes (id TEXT PRIMARY KEY)")]


async def test_service_schema_is_versioned_in_its_own_namespace(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory()
    own_before = await store.schema_version()
    assert await mitigate.migrate(store, CONTENT, namespace="content") == 2
    assert await mitigate.migrate(store, THEME, namespace="theme") == 1
    # mitigate's own version is untouched, and each namespace counts from 1 independently.
    assert await store.schema_version() == own_before
    assert await applied_versions(store, namespace="content") == {1, 2}
    assert await applied_versions(store, namespace="theme") == {1}
    await store.execute(
        "INSERT INTO content_drafts (id, body, title) VALUES (?, ?, ?)", ("d1", "b", "t")
    )
    rows = await store.fetch(
        f"SELECT namespace, version, name FROM {NAMESPACE_TABLE} ORDER BY namespace, version"
    )
    assert [tuple(r) for r in rows] == [
        ("content", 1, "drafts"),
        ("content", 2, "draft_title"),
        ("theme", 1, "themes"),
    ]


async def test_running_again_and_upgrading_applies_only_what_is_new(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory()
    assert await mitigate.migrate(store, CONTENT[:1], namespace="content") == 1
    # Data written at version 1 survives the upgrade to version 2.
    await store.execute("INSERT INTO content_drafts (id, body) VALUES (?, ?)", ("d1", "b"))
    assert await mitigate.migrate(store, CONTENT, namespace="content") == 2
    assert await mitigate.migrate(store, CONTENT, namespace="content") == 2
    assert await store.fetch("SELECT id, title FROM content_drafts") == [("d1", None)]


async def test_target_stops_at_a_version(store_factory: StoreFactory) -> None:
    store = await store_factory()
    assert await mitigate.migrate(store, CONTENT, namespace="content", target=1) == 1
    assert await applied_versions(store, namespace="content") == {1}


async def test_two_migrators_of_one_namespace_apply_each_version_once(
    store_factory: StoreFactory,
) -> None:
    a = await store_factory()
    b = await store_factory()
    counted = [*CONTENT, _m(3, "seed", "INSERT INTO content_drafts (id, body) VALUES ('x', 'y')")]
    results = await asyncio.gather(
        mitigate.migrate(a, counted, namespace="content"),
        mitigate.migrate(b, counted, namespace="content"),
    )
    assert results == [3, 3]
    assert await a.fetch("SELECT count(*) FROM content_drafts") == [(1,)]


async def test_a_failing_service_migration_rolls_back_and_names_the_namespace(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory()
    await mitigate.migrate(store, CONTENT[:1], namespace="content")
    broken = [*CONTENT[:1], _m(2, "broken", "CREATE TABLE half (n INTEGER)", "SELECT * FROM nope")]
    with pytest.raises(mitigate.StoreError) as info:
        await mitigate.migrate(store, broken, namespace="content")
    assert info.value.code == "MITIGATE.STORE.MIGRATION"
    assert "migration 2 broken (namespace content)" in str(info.value)
    assert await applied_versions(store, namespace="content") == {1}
    # The first statement of the broken version was rolled back with it.
    await store.execute("CREATE TABLE half (n INTEGER)")


async def test_mitigate_namespace_is_mitigates_own(store_factory: StoreFactory) -> None:
    store = await store_factory(migrate=False)
    latest = discover()[-1].version
    assert await mitigate.migrate(store, namespace="mitigate") == latest
    assert await store.schema_version() == latest


@pytest.mark.parametrize(
    ("migrations", "namespace", "needle"),
    [
        (None, "content", "needs the namespace's migrations"),
        (CONTENT, "Content-Service", "not a plain lower-case identifier"),
        ([CONTENT[0], _m(1, "again", "SELECT 1")], "content", "share a version"),
        ([mitigate.Migration(1, "pg_only", postgres=("SELECT 1",))], "content", "no sqlite"),
    ],
)
async def test_bad_input_is_refused_before_touching_the_database(
    tmp_path: object,
    migrations: list[mitigate.Migration] | None,
    namespace: str,
    needle: str,
) -> None:
    store = await mitigate.open_store(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(mitigate.ConfigError, match=needle) as info:
        await mitigate.migrate(store, migrations, namespace=namespace)
    assert info.value.code == "MITIGATE.CONFIG.MIGRATION"
    tables = await store.fetch("SELECT name FROM sqlite_master WHERE name = ?", (NAMESPACE_TABLE,))
    assert tables == []
    await store.aclose()


def test_statements_may_be_given_as_lists() -> None:
    a = mitigate.Migration(1, "a", sqlite=["SELECT 1"], postgres=["SELECT 1"])  # type: ignore[arg-type]
    b = mitigate.Migration(1, "a", sqlite=("SELECT 1",), postgres=("SELECT 1",))
    assert a == b and sorted([a, b]) == [a, b]
