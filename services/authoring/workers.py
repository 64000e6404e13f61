"""The authoring service's background loops: the publish saga worker, the import loop,
the collab processes' snapshots and the collab router's health probe."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(service: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the saga worker until the block ends; stop it cleanly (leases handed back)."""
    stop = asyncio.Event()
    worker = service.publisher.worker
    task = asyncio.create_task(worker.run(stop=stop), name="authoring.sagas")
    imports = asyncio.create_task(_imports(service, stop), name="authoring.imports")
    loops = [task, imports]
    # Each collab process snapshots its rooms every 60 s; the router probes every 5 s.
    loops += [asyncio.create_task(s.snapshots(stop), name=s.name) for s in service.collab]
    if service.router is not None:
        loops.append(asyncio.create_task(service.router.watch(stop), name="collab.router"))
    try:
        yield {"sagas": worker}
    finally:
        stop.set()
        await worker.aclose()
        for each in loops:
            each.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await each


async def _imports(service: Any, stop: asyncio.Event) -> None:
    """Run queued SCORM imports (rows of the store: a restart finds them)."""
    clock = service.runtime.clock
    while not stop.is_set():
        # A pass that fails (the store is away) is simply tried again at the next poll.
        with contextlib.suppress(Exception):
            await service.importer.run_pending()
        await clock.asleep(service.settings.import_poll)
