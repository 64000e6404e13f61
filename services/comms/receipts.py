"""Delivery-receipt callbacks from the providers (comms.fm.13).

Before a callback's body is read, :meth:`Receipts.admit` counts it per provider as
``comms.receipt_received`` (the flood rule reads it) and takes a permit from that
provider's own rate limit (429 + Retry-After when none is left: the provider retries
later; other providers are unaffected). :meth:`Receipts.apply` then applies each receipt
once: a provider's retry of a receipt already applied changes nothing. With a Redis
(``CACHE``) the limit lives there (:func:`receipt_limiter`), shared by the workers.
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from redis.exceptions import RedisError

import mitigate
from mitigate.guard import RedisRateLimiter
from services.kit.errors import ServiceError

__all__ = ["PATH", "ReceiptReceived", "Receipts", "provider_of", "receipt_limiter"]

PATH = "/v1/receipts/"
log = logging.getLogger("services.comms.receipts")
_PROVIDER = re.compile(r"^/v1/receipts/([a-z0-9][a-z0-9-]{0,31})$")


def provider_of(scope: Any) -> str | None:
    """The provider a callback comes from (the last path segment), else None."""
    found = _PROVIDER.match(str(scope.get("path", "")))
    return found.group(1) if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptReceived(mitigate.Event):
    """One receipt callback arrived (before any limit), target ``receipts.<provider>``."""

    name: ClassVar[str] = "comms.receipt_received"


class Receipts:
    def __init__(self, runtime: Any, *, limiter: Any, switches: dict[str, str]) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.limiter = limiter
        self.switches = switches

    @property
    def limited_in(self) -> str:
        """Where the per-provider limit is kept: ``redis`` or ``process``."""
        return str(getattr(self.limiter, "where", "process"))

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def admit(self, provider: str) -> None:
        """Count the callback; refuse it (429) when its provider is over its limit."""
        now = self.clock.now()
        target = f"receipts.{provider}"
        self.runtime.emit(ReceiptReceived(target=target, at=now))
        if not self._on("limit"):
            return
        permit = self.limiter.try_acquire(provider)
        if inspect.isawaitable(permit):
            permit = await permit
        if not permit.allowed:
            self.runtime.emit(
                mitigate.LimitHit(
                    target=target, at=now, key=provider, retry_after=permit.retry_after
                )
            )
            raise ServiceError(
                "COMMS.RECEIPTS.RATE_LIMITED",
                f"receipts from {provider} over their rate limit; retry later",
                status=429,
                retry_after=max(1.0, permit.retry_after),
            )

    async def apply(self, provider: str, receipt_id: str, reference: str, status: str) -> bool:
        """Apply one receipt; False when it was applied before (a provider's retry)."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            if self._on("dedupe"):
                fresh = await tx.execute(
                    "INSERT INTO comms_receipts (provider, receipt_id, reference, status, at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, receipt_id) DO NOTHING",
                    (provider, receipt_id, reference, status, now),
                )
                if not fresh:
                    return False
            await tx.execute(
                "INSERT INTO comms_receipt_log (provider, receipt_id, reference, status, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (provider, receipt_id, reference, status, now),
            )
            if status == "delivered":
                await tx.execute(
                    "UPDATE comms_dispatches SET state = 'delivered', updated_at = ?"
                    " WHERE id = ? AND state IN ('sent', 'unknown')",
                    (now, reference),
                )
        return True

    async def log(self) -> list[tuple[str, str, float]]:
        """(provider, receipt id, when) of every receipt applied, in order."""
        rows = await self.store.fetch(
            "SELECT provider, receipt_id, at FROM comms_receipt_log ORDER BY at"
        )
        return [(str(p), str(r), float(at)) for p, r, at in rows]


class _SharedLimit:
    """The limit in Redis; while Redis is unreachable, this worker's own limit (callbacks
    keep being limited, at worst N workers x the limit, rather than refused or let in)."""

    where = "redis"

    def __init__(self, shared: Any, local: Any) -> None:
        self.shared = shared
        self.local = local

    async def try_acquire(self, key: str) -> Any:
        try:
            return await self.shared.try_acquire(key)
        except (RedisError, OSError) as exc:
            log.warning("receipt limit in Redis unreachable (%r): limiting in process", exc)
            return self.local.try_acquire(key)


def receipt_limiter(runtime: Any, settings: Any) -> Any:
    """Each provider's receipt-callback limit: in Redis when the service has one, so every
    worker process draws on one budget per provider (N workers must not admit N x the
    limit); in process otherwise."""
    limit = mitigate.RateLimit(settings.receipt_rate, per=1.0, burst=settings.receipt_burst)
    local = limit.limiter(runtime.clock)
    if runtime.cache is None:
        return local
    shared = RedisRateLimiter(
        runtime.cache,
        rate=max(1, round(settings.receipt_rate)),
        per=1.0,
        burst=settings.receipt_burst,
        algorithm="gcra",
        prefix=f"{settings.name}:{settings.breaker_namespace or settings.stream}:receipts",
        clock=runtime.clock,
    )
    return _SharedLimit(shared, local)
