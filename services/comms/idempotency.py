"""Idempotency keys of the comms API in Redis, with the database as fallback (comms.fm.7).

Redis answers first; every claim and response is also written to the service's store
(``mitigate.TieredIdempotencyStore``, write-through), so a key Redis evicted or lost in a
flush is still found there, its stored response replayed, and Redis warmed again. Each
lookup of a key already used (a retry) counts for the cache hit ratio: a hit when Redis
answered, a miss when the database had to (events ``comms.idempotency_lookup`` and
``comms.idempotency_hit``; the rule alerts below 90 %). With the fallback switched off,
Redis alone holds the keys: what it loses, a retry runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["CountedStore", "IdempotencyHit", "IdempotencyLookup", "idempotency_store"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyLookup(mitigate.Event):
    """A retry's key looked up (the hit ratio's denominator); ``tier`` answered it."""

    name: ClassVar[str] = "comms.idempotency_lookup"
    tier: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyHit(mitigate.Event):
    """Redis had the retry's key (the hit ratio's numerator)."""

    name: ClassVar[str] = "comms.idempotency_hit"


class CountedStore:
    """An idempotency store that reports which tier answered each retry's lookup."""

    def __init__(self, inner: Any, runtime: Any) -> None:
        self.inner = inner
        self.runtime = runtime
        self.clock = runtime.clock

    async def claim(self, key: str, fingerprint: str, **options: Any) -> Any:
        claim = await self.inner.claim(key, fingerprint, **options)
        if claim.outcome != "new":
            now = self.clock.now()
            target = "idempotency.redis"
            self.runtime.emit(IdempotencyLookup(target=target, at=now, tier=claim.tier))
            if claim.tier == "redis":
                self.runtime.emit(IdempotencyHit(target=target, at=now))
        return claim

    async def complete(self, key: str, fingerprint: str, response: Any, **options: Any) -> None:
        await self.inner.complete(key, fingerprint, response, **options)

    async def release(self, key: str, fingerprint: str) -> None:
        await self.inner.release(key, fingerprint)

    async def renew(self, key: str, fingerprint: str, **options: Any) -> bool:
        return bool(await self.inner.renew(key, fingerprint, **options))


def idempotency_store(runtime: Any, *, prefix: str, fallback_switch: str) -> Any:
    """The API's idempotency store: None (the platform's database store) without Redis."""
    if runtime.cache is None:
        return None
    redis = mitigate.RedisIdempotencyStore(runtime.cache, prefix=prefix, clock=runtime.clock)
    if not runtime.switches.enabled(fallback_switch):
        return CountedStore(redis, runtime)
    database = mitigate.DatabaseIdempotencyStore(runtime.store, clock=runtime.clock)
    tiered = mitigate.TieredIdempotencyStore(redis, database, observers=runtime.observers)
    return CountedStore(tiered, runtime)
