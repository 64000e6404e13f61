"""The demo's guarantees, verified by the runner; without its breaker and fallback the
same demo must fail, which shows the checks can fail."""

from __future__ import annotations

import asyncio

from mitigate.chaos import Run, experiment
from mitigate.demo import run_demo


@experiment("demo.chaos.outage")
async def outage(run: Run) -> None:
    # run_demo drives its own event loop on its own virtual clock: give it a thread.
    result = await asyncio.to_thread(run_demo)
    for check in result.checks:
        run.expect(check.name, check.passed, check.detail)
    # The demo runs on its own clock and recorder: its detection is read from its events.
    opened = [e for e in result.events if e.name == "breaker.opened"]
    if opened:
        run.detected(f"breaker opened on {opened[0].target} at {opened[0].at:g}s demo time")
    weakened = await asyncio.to_thread(run_demo, breaker=False, fallback=False)
    run.expect(
        "the checks fail when breaker and fallback are removed",
        not all(check.passed for check in weakened.checks),
    )
