"""Run a service as a real process: uvicorn serving its app, its workers beside it, and a
clean stop on SIGTERM or Ctrl-C (workers stopped, leases handed back, backends closed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn

__all__ = ["background", "run_service"]

log = logging.getLogger("services.serve")


def run_service(
    open_app: Callable[[], AbstractAsyncContextManager[Any]], *, host: str, port: int
) -> int:
    """Serve the app ``open_app()`` yields until a stop signal; 0 after a clean stop."""

    async def main() -> None:
        async with open_app() as app:
            config = uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="info")
            await uvicorn.Server(config).serve()
        log.info("stopped cleanly")

    # uvicorn replays the stop signal after its own shutdown; we handle it ourselves by
    # closing the runtime above and returning 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
    return 0


@contextlib.asynccontextmanager
async def background(*loops: Callable[[asyncio.Event], Any]) -> AsyncIterator[asyncio.Event]:
    """Run ``loop(stop)`` tasks until the block ends, then set ``stop`` and wait for them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]
    try:
        yield stop
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
