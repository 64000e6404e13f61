"""Feature flags: the source of truth is the store; KV is the fast, eventually consistent
copy the edge reads (seed 004 §2.3: flags are the documented, accepted use of KV)."""

from __future__ import annotations

from typing import Any

from .kv import Kv

__all__ = ["Flags"]


class Flags:
    def __init__(self, runtime: Any, kv: Kv) -> None:
        self.rt = runtime
        self.kv = kv
        # Keys whose last KV write failed: read from the source until a re-put succeeds,
        # so a stale KV copy never outlives a recovered Redis.
        self.unsynced: set[str] = set()

    async def stored(self, tenant: str, name: str) -> str | None:
        rows = await self.rt.store.fetch(
            "SELECT value FROM edge_flags WHERE tenant = ? AND name = ?", (tenant, name)
        )
        return str(rows[0][0]) if rows else None

    async def read(self, tenant: str, name: str, *, location: str = "") -> dict[str, Any]:
        async def source() -> str | None:
            return await self.stored(tenant, name)

        key = f"{tenant}:flag:{name}"
        if key in self.unsynced:
            value = await source()
            if value is not None and await self.kv.put(key, value):
                self.unsynced.discard(key)
            return {"name": name, "value": value, "servedFrom": "source"}
        value, origin = await self.kv.get(key, source, location=location)
        return {"name": name, "value": value, "servedFrom": origin}

    async def write(self, tenant: str, name: str, value: str) -> dict[str, Any]:
        previous = await self.stored(tenant, name)
        async with self.rt.store.transaction() as tx:
            await tx.execute("DELETE FROM edge_flags WHERE tenant = ? AND name = ?", (tenant, name))
            await tx.execute(
                "INSERT INTO edge_flags (tenant, name, value) VALUES (?, ?, ?)",
                (tenant, name, value),
            )
        key = f"{tenant}:flag:{name}"
        cached = await self.kv.put(key, value, previous=previous)
        if cached:
            self.unsynced.discard(key)
        else:
            self.unsynced.add(key)
        return {
            "name": name,
            "value": value,
            "kv": "written" if cached else "write-failed",
            # Operators flipping a flag are told of the propagation bound (edge.fm.2.3b).
            "propagation": f"visible everywhere within {self.kv.max_delay:g} s",
        }
