"""The orphan sweep: bundle objects that no publication names are deleted once they have
been seen unnamed for the orphan age (a publish that uploaded and then failed, or whose
compensation was interrupted, leaves one behind).

Mark and sweep: the first pass records when an unnamed object was first seen; a later
pass past the age deletes it. The age is far above the 10 s upload cut, so an upload
whose publish is still flipping is never taken.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.runtime import Runtime

__all__ = ["OrphanReaped", "OrphanSweep"]

log = logging.getLogger("services.theme.orphans")
SWITCH = "theme.switch.orphan-sweep"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrphanReaped(mitigate.Event):
    name: ClassVar[str] = "theme.orphan_reaped"
    key: str = ""
    age: float = 0.0


class OrphanSweep:
    def __init__(self, runtime: Runtime, scope: Any, *, age: float, every: float) -> None:
        self.rt = runtime
        self.scope = scope  # tenancy.TenantScope: runs a question as one tenant
        self.age = age
        self.every = every

    async def _named(self, keys: list[str]) -> set[str]:
        """The keys among ``keys`` (each naming its tenant) that a publication names,
        asked as each key's tenant."""
        named: set[str] = set()
        for tenant in sorted({_tenant_of(key) for key in keys}):
            async with self.scope.as_tenant(tenant):
                rows = await self.rt.store.fetch(
                    "SELECT object_key FROM theme_publications WHERE tenant = ?", (tenant,)
                )
            named |= {str(r[0]) for r in rows}
        return named

    async def sweep_once(self) -> list[str]:
        """One pass; returns the keys deleted."""
        if not self.rt.switches.enabled(SWITCH):
            return []
        now = self.rt.clock.now()
        keys = [key for key in await self.rt.objects.list("bundles/") if _tenant_of(key)]
        named = await self._named(keys)
        seen = {
            str(k): float(at)
            for k, at in await self.rt.store.fetch("SELECT key, first_seen FROM theme_orphans")
        }
        reaped: list[str] = []
        for key in keys:
            if key in named:
                continue
            if key not in seen:
                await self.rt.store.execute(
                    "INSERT INTO theme_orphans (key, first_seen) VALUES (?, ?)", (key, now)
                )
            elif now - seen[key] >= self.age:
                await self.rt.objects.delete(key)
                await self.rt.store.execute("DELETE FROM theme_orphans WHERE key = ?", (key,))
                self.rt.emit(
                    OrphanReaped(target="theme.orphans", at=now, key=key, age=now - seen[key])
                )
                log.warning(
                    "reaped orphan bundle object %s (unnamed for %.0f s)", key, now - seen[key]
                )
                reaped.append(key)
        for key in set(seen) & named:  # named since: no longer a candidate
            await self.rt.store.execute("DELETE FROM theme_orphans WHERE key = ?", (key,))
        return reaped

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception:  # the next pass tries again; a sweep never stops the service
                log.exception("orphan sweep failed")
            await sleep_or_stop(self.rt.clock, self.every, stop)


def _tenant_of(key: str) -> str:
    """The tenant of ``bundles/<tenant>/<theme>/<sha>.json``; empty when it names none."""
    parts = key.split("/")
    return parts[1] if len(parts) >= 4 and parts[0] == "bundles" else ""


async def sleep_or_stop(
    clock: mitigate.Clock, seconds: float, stop: asyncio.Event, wake: asyncio.Event | None = None
) -> None:
    """Sleep on the service's clock, waking at once when ``stop`` (or ``wake``) is set."""
    tasks = {asyncio.ensure_future(clock.asleep(seconds)), asyncio.ensure_future(stop.wait())}
    if wake is not None:
        tasks.add(asyncio.ensure_future(wake.wait()))
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
