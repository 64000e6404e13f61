"""ASGI rate limits with auto-block: per token hash, per tenant, and per IP after failures.

theme.fm.2.13 (preview-link guessing): 60 requests per minute per token hash, 600 per
minute per tenant, and an IP with 100 failed requests (401, 403, 404) in one minute is
blocked. Two middlewares, because the tenant is known only after tenant resolution::

    app = RateLimitMiddleware(                      # IP block, token limit, failure count
        TenantMiddleware(                           # resolves the tenant (fails closed)
            TenantRateLimitMiddleware(inner, tenant_limiter),
            resolver,
        ),
        token_limiter=token_limiter,
        blocker=blocker,
    )

Counting failures outermost means tenant-resolution refusals (400/404) count too.
A refused request gets 429 (limit; ``Retry-After``) or 403 (blocked IP; ``Retry-After``)
with ``{"code", "message"}``; the application is not called. Limiters are the in-process
:class:`~mitigate.RateLimiter` (``RateLimit(60, per=60, algorithm="sliding_window")``) or
:class:`~mitigate.guard.redis_limits.RedisRateLimiter`; blockers
:class:`~mitigate.guard.blocklist.IpBlocker` or its Redis twin. Token keys are SHA-256
hashes: tokens never reach logs, events or Redis.

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mitigate.clock import Clock, default_clock
from mitigate.errors import RateLimitedError
from mitigate.guard.blocklist import AsyncBlocker
from mitigate.guard.errors import IpBlockedError
from mitigate.observe.events import LimitHit
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.ratelimit import Permit

__all__ = [
    "FAILURE_STATUSES",
    "Limiter",
    "RateLimitMiddleware",
    "TenantRateLimitMiddleware",
    "query_or_bearer_token",
    "token_hash",
]

FAILURE_STATUSES = frozenset({401, 403, 404})


class Limiter(Protocol):
    """A sync (in-process) or async (Redis) limiter."""

    def try_acquire(self, key: str) -> Permit | Awaitable[Permit]: ...


def token_hash(token: str) -> str:
    """The key a token is limited under: never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def query_or_bearer_token(scope: Scope) -> str | None:
    """The default token: ``?token=`` in the query, else a Bearer authorization."""
    query: bytes = scope.get("query_string", b"")
    for key, value in parse_qsl(query.decode("latin-1")):
        if key == "token" and value:
            return value
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, raw in headers:
        if name == b"authorization":
            scheme, _, credential = raw.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential:
                return credential.strip()
    return None


class _Limits:
    def __init__(self, clock: Clock | None, observers: Iterable[Observer], target: str) -> None:
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target

    async def acquire(self, limiter: Limiter, key: str) -> Permit:
        outcome = limiter.try_acquire(key)
        permit = await outcome if inspect.isawaitable(outcome) else outcome
        if not permit.allowed and self.observers:
            self.observers.emit(
                LimitHit(
                    target=self.target,
                    at=self.clock.now(),
                    key=key,
                    retry_after=permit.retry_after,
                )
            )
        return permit


def _refusal(status: int, code: str, message: str, retry_after: float) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message},
        status_code=status,
        headers={"retry-after": str(max(1, math.ceil(retry_after))), "cache-control": "no-store"},
    )


class RateLimitMiddleware:
    """IP block list, per-token limit, and failure counting (outermost)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token_limiter: Limiter | None = None,
        blocker: AsyncBlocker | None = None,
        token_of: Callable[[Scope], str | None] = query_or_bearer_token,
        failure_statuses: Iterable[int] = FAILURE_STATUSES,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "web.ratelimit",
    ) -> None:
        self.app = app
        self.token_limiter = token_limiter
        self.blocker = blocker
        self.token_of = token_of
        self.failure_statuses = frozenset(failure_statuses)
        self._limits = _Limits(clock, observers, target)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else ""
        if self.blocker is not None and ip:
            left = await self.blocker.ablocked_for(ip)
            if left is not None:
                response = _refusal(
                    403,
                    IpBlockedError.code,
                    f"{ip}: blocked after repeated failed requests",
                    left,
                )
                await response(scope, receive, send)
                return
        if self.token_limiter is not None:
            token = self.token_of(scope)
            if token:
                key = f"token:{token_hash(token)}"
                permit = await self._limits.acquire(self.token_limiter, key)
                if not permit.allowed:
                    response = _refusal(
                        429,
                        RateLimitedError.code,
                        "too many requests for this link",
                        permit.retry_after,
                    )
                    await response(scope, receive, send)
                    return
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if self.blocker is not None and ip and status and status[0] in self.failure_statuses:
            await self.blocker.arecord_failure(ip)


class TenantRateLimitMiddleware:
    """Per-tenant limit; place it inside :class:`~mitigate.web.tenancy.TenantMiddleware`."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: Limiter,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "web.ratelimit",
    ) -> None:
        self.app = app
        self.limiter = limiter
        self._limits = _Limits(clock, observers, target)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant: Any = scope.get("state", {}).get("tenant")
        if scope["type"] == "http" and tenant is not None:
            permit = await self._limits.acquire(self.limiter, f"tenant:{tenant.id}")
            if not permit.allowed:
                response = _refusal(
                    429,
                    RateLimitedError.code,
                    f"tenant {tenant.id}: request limit reached",
                    permit.retry_after,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
