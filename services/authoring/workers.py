"""The authoring service's background loop: the publish saga worker."""

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
    try:
        yield {"sagas": worker}
    finally:
        stop.set()
        await worker.aclose()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
