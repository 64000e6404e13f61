"""``transaction(durable=False)``: a commit that need not be on disk when it returns
(SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off, for that transaction
only); atomic like any other. The idempotency claim uses it: one fsync per keyed request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from mitigate.durable.idempotency import DatabaseIdempotencyStore, StoredResponse
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store, Tx


async def _setting(tx: Tx) -> str:
    if tx.dialect == "sqlite":
        row = await tx.fetchone("PRAGMA synchronous")  # 1 NORMAL, 2 FULL
        return {1: "lazy", 2: "durable"}[int(row[0])] if row else "?"
    row = await tx.fetchone("SHOW synchronous_commit")
    return "lazy" if row and row[0] == "off" else "durable"


async def test_only_that_transaction_commits_lazily(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    async with store.transaction(durable=False) as tx:
        assert await _setting(tx) == "lazy"
        await tx.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1"))
    with pytest.raises(RuntimeError):
        async with store.transaction(durable=False) as tx:
            await tx.execute("INSERT INTO kv VALUES (?, ?)", ("b", "2"))
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await _setting(tx) == "durable"  # restored after commit and rollback
    assert await store.fetch("SELECT k, v FROM kv") == [("a", "1")]


async def test_a_normal_sqlite_store_stays_normal(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "n.db", durability="normal")
    try:
        async with store.transaction(durable=False) as tx:
            assert await _setting(tx) == "lazy"
        async with store.transaction() as tx:
            assert await _setting(tx) == "lazy"  # NORMAL is what this store was opened with
    finally:
        await store.aclose()


class _Spy:
    """The store, recording the ``durable`` of every transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock
        self.durable: list[bool] = []

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Tx]:
        self.durable.append(durable)
        async with self.store.transaction(durable=durable) as tx:
            yield tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_the_idempotency_claim_is_lazy_and_the_response_durable(store: Store) -> None:
    spy = _Spy(store)
    keys = DatabaseIdempotencyStore(spy)  # type: ignore[arg-type]
    assert (await keys.claim("k-1", "fp")).outcome == "new"
    assert spy.durable == [False]
    commits = store.commits
    await keys.complete("k-1", "fp", StoredResponse(200, (), b"ok"))
    assert store.commits == commits + 1  # its own durable commit (store.execute)
    replay = await keys.claim("k-1", "fp")
    assert replay.outcome == "replay" and replay.response is not None
    assert replay.response.body == b"ok"
