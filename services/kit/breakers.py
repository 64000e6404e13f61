"""Breakers shared by every process of a service through its Redis (``CACHE`` setting).

A service runs several workers; when one worker's breaker on a dependency opens, the
others' open too (``mitigate.policy.shared.SharedBreakers``), so the dependency is not
hit N x the trip count. The catalog switch ``<service>.switch.shared-breakers`` turns it
off (the mutation check's way of showing it is needed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from mitigate import ConfigError
from mitigate.policy.shared import SharedBreakers

__all__ = ["share_breakers"]


async def share_breakers(
    name: str, namespace: str, cache: Any, policy: Callable[[str], Any], *, clock: Any
) -> tuple[Callable[[str], Any], SharedBreakers]:
    """``policy`` whose pipelines with a breaker share its openings, and the sharer
    (started; close it with the runtime)."""
    shared = await SharedBreakers(cache, namespace=namespace, clock=clock).start()
    seen: set[int] = set()

    def sharing(target: str) -> Any:
        pipeline = policy(target)
        if id(pipeline) not in seen:
            seen.add(id(pipeline))
            with contextlib.suppress(ConfigError, AttributeError):
                shared.watch(pipeline)  # no breaker, or one per key: nothing to share
        return pipeline

    sharing.__name__ = f"{name}_policy"
    return sharing, shared
