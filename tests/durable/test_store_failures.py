"""The stores under failure: a failed COMMIT, driver errors, a second process on the lock,
values the database cannot hold."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store, dumps
from mitigate.errors import StoreError


async def test_a_failed_commit_rolls_back_and_the_connection_stays_usable(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "c.db")
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        await tx.execute(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id)"
            " DEFERRABLE INITIALLY DEFERRED)"
        )
    with pytest.raises(StoreError) as info:
        async with store.transaction() as tx:
            # A deferred foreign key is checked at COMMIT: the COMMIT itself fails.
            await tx.execute("INSERT INTO child VALUES (1, 42)")
    assert info.value.code == "MITIGATE.STORE.DATA"
    assert "FOREIGN KEY" in str(info.value)
    assert not store.connection.in_transaction
    async with store.transaction() as tx:
        await tx.execute("INSERT INTO parent VALUES (1)")
    assert await store.fetch("SELECT id FROM parent") == [(1,)]
    assert await store.fetch("SELECT id FROM child") == []
    await store.aclose()


async def test_driver_errors_surface_as_store_errors_with_a_code(store: Store) -> None:
    await store.execute("CREATE TABLE uniq (k TEXT PRIMARY KEY)")
    await store.execute("INSERT INTO uniq VALUES ('a')")
    with pytest.raises(StoreError) as dup:
        await store.execute("INSERT INTO uniq VALUES ('a')")
    assert dup.value.code == "MITIGATE.STORE.DATA"
    with pytest.raises(StoreError) as inside:
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO uniq VALUES ('b')")
            await tx.execute("INSERT INTO uniq VALUES ('a')")
    assert inside.value.code == "MITIGATE.STORE.DATA"
    with pytest.raises(StoreError) as missing:
        await store.fetch("SELECT * FROM no_such_table")
    assert missing.value.code == "MITIGATE.STORE.ERROR"
    assert await store.fetch("SELECT k FROM uniq") == [("a",)]  # 'b' rolled back


async def test_a_second_process_holding_the_write_lock_does_not_freeze_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lock.db"
    store = await SqliteStore.open(path, busy_timeout=5.0)
    await store.execute("CREATE TABLE beats (n INTEGER)")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock for 0.5 s
    asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    await store.execute("INSERT INTO beats VALUES (1)")  # waits for the lock...
    waited = time.monotonic() - started
    ticker.cancel()
    other.close()
    assert waited >= 0.4
    # ...while the event loop keeps running: heartbeats would go out on time.
    assert len([t for t in ticks if t < started + waited]) >= 10
    assert await store.fetch("SELECT n FROM beats") == [(1,)]
    await store.aclose()


@pytest.mark.parametrize(
    "value",
    [
        "nul \u0000 here",
        {"k\u0000": 1},
        ["\ud800 lone surrogate"],
    ],
    ids=["nul-in-value", "nul-in-key", "lone-surrogate"],
)
def test_values_the_database_cannot_hold_are_not_json(value: object) -> None:
    with pytest.raises(StoreError) as info:
        dumps(value, what="result of step x")
    assert info.value.code == "MITIGATE.STORE.NOT_JSON"
    assert "result of step x" in str(info.value)


def test_nesting_too_deep_is_not_json() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(StoreError) as info:
        dumps(deep)
    assert info.value.code == "MITIGATE.STORE.NOT_JSON"


def test_a_backslash_before_u0000_is_still_json() -> None:
    assert dumps("\\u0000") == '"\\\\u0000"'
