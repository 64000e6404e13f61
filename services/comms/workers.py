"""The comms service's background loops, started beside the app (``serve``) or by an
experiment: the dispatch worker, the recording ingest and the push feedback poller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["running"]

log = logging.getLogger("services.comms.workers")


async def _every(comms: Any, tick: Any, stop: asyncio.Event) -> None:
    """Run ``tick`` every poll until stopped; a failed tick is logged, the loop goes on."""
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            log.exception("background tick failed")
        await comms.runtime.clock.asleep(comms.settings.poll)


@contextlib.asynccontextmanager
async def running(comms: Any) -> AsyncIterator[dict[str, Any]]:
    """Run the workers until the block ends; stop them cleanly."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(comms.dispatcher.run(stop), name="comms.dispatcher")]
    if comms.recordings is not None:
        tasks.append(asyncio.create_task(_every(comms, comms.recordings.tick, stop)))
    if comms.erasures is not None:
        every = comms.settings.erasure_scan_every
        tasks.append(asyncio.create_task(comms.erasures.run(stop, every), name="comms.erasure"))
    if comms.failover is not None:
        tasks.append(asyncio.create_task(_every(comms, comms.failover.drain, stop)))
    if comms.scanning is not None:
        tasks.append(asyncio.create_task(comms.scanning.run(stop), name="comms.scanning"))
    if comms.log_scan is not None:
        every = comms.settings.log_scan_every
        tasks.append(asyncio.create_task(comms.log_scan.run(stop, every), name="comms.log-scan"))
    relay = None
    if comms.events is not None:
        # Without the poison check, a drifted row is published as it is: consumers get it.
        checked = comms.runtime.switches.enabled("comms.switch.poison-dlq")
        relay = comms.events.relay(max_poison=comms.settings.poison_attempts, checked=checked)
        tasks.append(asyncio.create_task(relay.run(), name="comms.relay"))
    consumer = comms.scheduling.consumer() if comms.scheduling is not None else None
    if consumer is not None:
        tasks.append(asyncio.create_task(consumer.run(), name="comms.scheduling"))
    if comms.sli is not None:
        clock = comms.runtime.clock
        tasks.append(asyncio.create_task(comms.sli.run(stop, clock), name="comms.sli"))
    if comms.feedback is not None:
        every = comms.settings.feedback_poll
        tasks.append(asyncio.create_task(comms.feedback.run(stop, every), name="comms.feedback"))
    try:
        yield {"dispatcher": comms.dispatcher, "relay": relay}
    finally:
        stop.set()
        if relay is not None:
            relay.stop()
        if consumer is not None:
            consumer.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.aclose()
