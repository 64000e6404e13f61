"""The store protocol, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mitigate.durable import open_store
from mitigate.durable.store import Store, Tx, dumps, loads
from mitigate.errors import ConfigError, StoreError


async def _table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")


async def test_transaction_commits_and_placeholders_work(store: Store) -> None:
    await _table(store)
    async with store.transaction() as tx:
        assert isinstance(tx, Tx)
        assert await tx.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1")) == 1
        await tx.executemany("INSERT INTO kv VALUES (?, ?)", [("b", "2"), ("c", "100%")])
        assert await tx.fetchone("SELECT v FROM kv WHERE k = ?", ("c",)) == ("100%",)
    rows = await store.fetch("SELECT k, v FROM kv WHERE v LIKE '1%' ORDER BY k")
    assert rows == [("a", "1"), ("c", "100%")]


async def test_error_rolls_back_everything(store: Store) -> None:
    await _table(store)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1"))
            raise RuntimeError("boom")
    assert await store.fetch("SELECT count(*) FROM kv") == [(0,)]


async def test_execute_and_fetch_are_their_own_transactions(store: Store) -> None:
    await _table(store)
    before = store.commits
    assert await store.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1")) == 1
    assert await store.fetch("UPDATE kv SET v = ? WHERE k = ? RETURNING k", ("2", "a")) == [("a",)]
    assert store.commits == before + 2
    assert await store.fetch("SELECT v FROM kv") == [("2",)]


async def test_adopt_writes_in_the_callers_own_transaction(store: Store) -> None:
    await _table(store)
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store.path, isolation_level=None)  # type: ignore[attr-defined]
        conn.execute("BEGIN IMMEDIATE")
        tx = store.adopt(conn)
        await tx.execute("INSERT INTO kv VALUES (?, ?)", ("mine", "x"))
        conn.rollback()  # the caller decides: nothing of ours survives its rollback
        conn.execute("BEGIN IMMEDIATE")
        await store.adopt(conn).execute("INSERT INTO kv VALUES (?, ?)", ("kept", "y"))
        conn.commit()
        conn.close()
    else:
        import psycopg

        conninfo = store.pool.conninfo  # type: ignore[attr-defined]
        async with await psycopg.AsyncConnection.connect(
            conninfo,
            options=f"-c search_path={store.schema}",  # type: ignore[attr-defined]
        ) as conn:
            async with conn.transaction(force_rollback=True):
                await store.adopt(conn).execute("INSERT INTO kv VALUES (?, ?)", ("mine", "x"))
            async with conn.transaction():
                await store.adopt(conn).execute("INSERT INTO kv VALUES (?, ?)", ("kept", "y"))
    assert await store.fetch("SELECT k FROM kv") == [("kept",)]


async def test_adopt_refuses_a_foreign_connection(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"MITIGATE\.CONFIG\.STORE"):
        store.adopt(object())


def test_json_helpers_name_what_does_not_serialise() -> None:
    assert loads(dumps({"a": [1, "é"]})) == {"a": [1, "é"]}
    with pytest.raises(StoreError) as info:
        dumps({"when": {1, 2}}, what="result of step build", target="content.publish")
    assert info.value.code == "MITIGATE.STORE.NOT_JSON"
    assert "result of step build" in str(info.value) and "set" in str(info.value)
    with pytest.raises(StoreError):
        dumps(float("nan"))


async def test_open_store_reads_sqlite_urls(tmp_path: object) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/x.db?durability=normal")
    assert store.dialect == "sqlite"
    assert store.durability == "normal"  # type: ignore[attr-defined]
    assert (await store.fetch("PRAGMA synchronous"))[0][0] == 1  # NORMAL
    await store.aclose()
    store = await open_store(f"{tmp_path}/y.db")
    assert (await store.fetch("PRAGMA synchronous"))[0][0] == 2  # FULL, the default
    assert (await store.fetch("PRAGMA journal_mode"))[0][0] == "wal"
    await store.aclose()
    with pytest.raises(ConfigError):
        await open_store("sqlite:///x.db?durability=fast")


async def test_sqlite_urls_read_like_sqlalchemy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///relative.db")
    assert store.path == "relative.db"  # type: ignore[attr-defined]
    await store.aclose()
    assert (tmp_path / "relative.db").exists()
    store = await open_store(f"sqlite:///{tmp_path}/absolute.db")
    assert store.path == f"{tmp_path}/absolute.db"  # type: ignore[attr-defined]
    await store.aclose()
