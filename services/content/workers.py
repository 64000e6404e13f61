"""The content service's background loops, started beside the app (``serve``) or by an
experiment: the publish saga worker, the outbox relay, the offline-bundle worker, and,
when the catalog service is the embedded fake, its consumer of built events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import mitigate

from .publish import BUILT_SUBJECT

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(content: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the workers until the block ends; stop them cleanly (leases handed back)."""
    rt = content.runtime
    relay = mitigate.Relay(
        content.publisher.outbox,
        rt.bus,
        idle=rt.settings.poll,
        registry=rt.registry,
        clock=rt.clock,
        observers=rt.observers,
    )
    stop = asyncio.Event()
    loops: dict[str, Any] = {"relay": relay, "sagas": content.publisher.worker}
    tasks = [
        asyncio.create_task(relay.run(), name="content.relay"),
        asyncio.create_task(content.publisher.worker.run(stop=stop), name="content.sagas"),
    ]
    if getattr(content, "devices", None) is not None:  # offline bundles queued when KMS fails
        loops["bundles"] = content.devices
        tasks.append(asyncio.create_task(content.devices.run_worker(stop), name="content.bundles"))
    consumer = None
    if content.fake_catalog is not None:
        consumer = content.fake_catalog.consumer(
            rt.bus,
            subject=rt.settings.subject(BUILT_SUBJECT),
            clock=rt.clock,
            observers=rt.observers,
            injector=rt.injector,
        )
        loops["catalog"] = consumer
        tasks.append(asyncio.create_task(consumer.run(), name="catalog.consumer"))
    try:
        yield loops
    finally:
        stop.set()
        relay.stop()
        if consumer is not None:
            consumer.stop()
        await content.publisher.worker.aclose()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.aclose()
