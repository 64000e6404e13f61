"""The device side's state table on SQLite and PostgreSQL: rows written by one use case
come back after a reopen, deletes remove them, and the schema is migrated once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from services.content.adapters.device_state import SqlState
from tests.conftest import require_postgres

import mitigate


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    dsn = require_postgres()
    schema = f"content_{uuid.uuid4().hex[:12]}"
    yield f"{dsn}?schema={schema}"
    store = await mitigate.open_store(f"{dsn}?schema={schema}", migrate=False)
    await store.drop_schema()  # type: ignore[attr-defined]
    await store.aclose()


async def test_rows_survive_a_reopen_and_deletes_remove_them(store_url: str) -> None:
    store = await mitigate.open_store(store_url)
    state = await SqlState(store).setup()
    await state.save(
        [
            ("device", "tab", {"tenant": "acme", "key": None}),
            ("pending", "tab|c1@tab", {}),
            ("delta", "tab:1", {"kind": "revocation", "seq": 1}),
        ]
    )
    await state.save([("pending", "tab|c1@tab", None), ("device", "tab", {"tenant": "acme2"})])
    await store.aclose()

    store = await mitigate.open_store(store_url)
    try:
        state = await SqlState(store).setup()  # migrating again is a no-op
        rows = sorted(await state.load())
        assert rows == [
            ("delta", "tab:1", {"kind": "revocation", "seq": 1}),
            ("device", "tab", {"tenant": "acme2"}),
        ]
    finally:
        await store.aclose()


async def test_two_writers_of_one_row_do_not_collide(store_url: str) -> None:
    """A request and the bundle worker may write the same job row at the same moment."""
    import asyncio

    store = await mitigate.open_store(store_url)
    try:
        state = await SqlState(store).setup()
        await asyncio.gather(
            *(state.save([("job", "bundle:c1@tab", {"state": f"s{i}"})]) for i in range(8))
        )
        rows = await state.load()
        assert len(rows) == 1 and rows[0][0:2] == ("job", "bundle:c1@tab")
    finally:
        await store.aclose()
