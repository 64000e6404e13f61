"""KV over Redis (the Workers KV role), with the seed's eventual consistency.

Every read and write goes through its catalog policy (``kv.get``, ``kv.put``: retries with
exponential backoff). A read that still fails is a cache miss: the caller's source of
truth answers (never an error for the user). A write that still fails is counted
(``kv_write_failures_total``), emitted as :class:`KvWriteFailed` and reported to the caller,
never silent. The redis client's own retries are off: the policy is the only retry.

Propagation: a value written at ``t`` becomes visible to a reader at location ``L`` at
``t + delay(L)``, every delay at most the catalog's 60 s; before that the reader sees the
previous value (the multi-location propagation of Workers KV, modelled on one Redis).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from .events import KvReadFailed, KvStaleRead, KvWriteFailed

__all__ = ["Kv", "open_redis"]

Source = Callable[[], Awaitable[str | None]]


def open_redis(url: str) -> Any:
    """A redis client without hidden retries and with short socket timeouts."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
    )


class Kv:
    def __init__(
        self,
        runtime: Any,
        client: Any,
        *,
        prefix: str,
        delays: dict[str, float],
        registry: CollectorRegistry,
    ) -> None:
        self.rt = runtime
        self.client = client
        self.prefix = prefix
        self.delays = delays
        self.read_failures = Counter(
            "kv_read_failures", "KV reads served from the source after failing", registry=registry
        )
        self.write_failures = Counter(
            "kv_write_failures", "KV writes that failed after their retries", registry=registry
        )

    @property
    def max_delay(self) -> float:
        return max(self.delays.values(), default=0.0)

    def delay(self, location: str) -> float:
        """A location not in the model sees writes at the bound (the worst case)."""
        return self.delays.get(location, self.max_delay)

    async def get(self, key: str, source: Source, *, location: str = "") -> tuple[str | None, str]:
        """The value of ``key`` as ``location`` sees it, and where it came from
        (``kv`` or ``source``: a miss or a failed read)."""
        raw = None
        if self.client is not None:
            try:
                raw = await self.rt.policy("kv.get").acall(self.client.get, self.prefix + key)
            except Exception as exc:
                self.read_failures.inc()
                self.rt.emit(
                    KvReadFailed(target="kv.get", at=self.rt.clock.now(), key=key, error=exc)
                )
                if not self.rt.switches.enabled("edge.switch.kv-read-fallback"):
                    raise
        if raw is not None:
            entry = json.loads(raw)
            age = self.rt.clock.now() - entry["at"]
            visible = age >= self.delay(location)
            value = entry["value"] if visible else entry.get("previous")
            if not visible:
                self.rt.emit(
                    KvStaleRead(
                        target=location or "default", at=self.rt.clock.now(), key=key, age=age
                    )
                )
            if value is not None:
                return str(value), "kv"
        return await source(), "source"

    async def put(self, key: str, value: str, *, previous: str | None = None) -> bool:
        """Write ``key``; False when the write failed after its retries (counted)."""
        if self.client is None:
            return False
        entry = json.dumps({"value": value, "previous": previous, "at": self.rt.clock.now()})
        try:
            await self.rt.policy("kv.put").acall(self.client.set, self.prefix + key, entry)
        except Exception as exc:
            self.write_failures.inc()
            self.rt.emit(KvWriteFailed(target="kv.put", at=self.rt.clock.now(), key=key, error=exc))
            return False
        return True

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
