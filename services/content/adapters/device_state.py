"""Where the device side keeps its state: a table of JSON rows by (kind, id) in the
service's own schema (SQLite embedded, PostgreSQL in production), written once per use
case in one transaction, read back at start. ``MemoryState`` keeps nothing (tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

import mitigate

__all__ = ["MIGRATIONS", "MemoryState", "SqlState", "StateStore"]

_TABLE = """CREATE TABLE IF NOT EXISTS content_device_state (
    kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id))"""

MIGRATIONS = (mitigate.Migration(1, "device state", sqlite=(_TABLE,), postgres=(_TABLE,)),)

Row = tuple[str, str, dict[str, Any] | None]  # (kind, id, data); None deletes


class StateStore(Protocol):
    async def load(self) -> list[tuple[str, str, dict[str, Any]]]: ...
    async def save(self, rows: Iterable[Row]) -> None: ...


class MemoryState:
    async def load(self) -> list[tuple[str, str, dict[str, Any]]]:
        return []

    async def save(self, rows: Iterable[Row]) -> None:
        return None


class SqlState:
    def __init__(self, store: Any) -> None:
        self.store = store

    async def setup(self) -> SqlState:
        await mitigate.migrate(self.store, MIGRATIONS, namespace="content_devices")
        return self

    async def load(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self.store.fetch("SELECT kind, id, data FROM content_device_state")
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    async def save(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        async with self.store.transaction() as tx:
            for kind, key, data in rows:
                if data is None:
                    await tx.execute(
                        "DELETE FROM content_device_state WHERE kind = ? AND id = ?", (kind, key)
                    )
                    continue
                # An upsert: two use cases may write the same row at once.
                await tx.execute(
                    "INSERT INTO content_device_state (kind, id, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data",
                    (kind, key, json.dumps(data, sort_keys=True)),
                )
