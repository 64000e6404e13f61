"""Waiting for several futures with a deadline on the mitigate clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mitigate.clock import Clock

__all__ = ["wait_all"]


async def wait_all(futures: Sequence[asyncio.Future[Any]], seconds: float, clock: Clock) -> bool:
    """Wait until every future is done or ``seconds`` pass on ``clock``.

    Returns ``True`` when all finished in time. Futures still pending are left as they
    are; the caller decides whether to cancel them.

    >>> import asyncio
    >>> from mitigate.clock import VirtualClock
    >>> async def main() -> tuple[bool, float]:
    ...     clock = VirtualClock()
    ...     never = asyncio.get_running_loop().create_future()
    ...     ok = await wait_all([never], 5.0, clock)
    ...     never.cancel()
    ...     return ok, clock.now()
    >>> asyncio.run(main())
    (False, 5.0)
    """
    pending = [f for f in futures if not f.done()]
    if not pending:
        return True
    everything = asyncio.gather(*pending, return_exceptions=True)
    timer = asyncio.ensure_future(clock.asleep(seconds))
    try:
        await asyncio.wait((everything, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if everything.done():
        return True
    # gather() would cancel the futures if cancelled itself; detach from it instead.
    everything.add_done_callback(_consume)
    return False


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
