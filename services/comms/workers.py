"""The comms service's background loops, started beside the app (``serve``) or by an
experiment: the dispatch worker and the push feedback poller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(comms: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the workers until the block ends; stop them cleanly."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(comms.dispatcher.run(stop), name="comms.dispatcher")]
    if comms.feedback is not None:
        every = comms.settings.feedback_poll
        tasks.append(asyncio.create_task(comms.feedback.run(stop, every), name="comms.feedback"))
    try:
        yield {"dispatcher": comms.dispatcher}
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
