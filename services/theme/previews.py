"""Preview links: a secret token per link (only its SHA-256 is stored) that shows a
theme's working version without signing in. Guessing is throttled and blocked: 60
requests a minute per token hash, 600 a minute per tenant, and an address with 100 failed
look-ups within a minute is blocked for the catalog's block duration. A tenant can revoke
every link at once."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError
from services.kit.runtime import Runtime

__all__ = ["PreviewLinks", "PreviewThrottled"]

LIMITS = "theme.switch.preview-limits"
IP_BLOCK = "theme.switch.ip-block"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewThrottled(mitigate.Event):
    name: ClassVar[str] = "theme.preview_throttled"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    scope: str = ""  # token or tenant


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PreviewLinks:
    def __init__(
        self,
        runtime: Runtime,
        scope: Any,
        *,
        per_token: int,
        per_tenant: int,
        block_after: int,
        block_for: float,
    ) -> None:
        self.rt = runtime
        self.scope = scope  # tenancy.TenantScope: the theme is read as the link's tenant
        minute = 60.0
        self.tokens = mitigate.RateLimiter(
            mitigate.RateLimit(per_token, per=minute, algorithm="sliding_window"), runtime.clock
        )
        self.tenants = mitigate.RateLimiter(
            mitigate.RateLimit(per_tenant, per=minute, algorithm="sliding_window"), runtime.clock
        )
        self.blocker = mitigate.IpBlocker(
            threshold=block_after,
            window=minute,
            block_for=block_for,
            clock=runtime.clock,
            observers=runtime.observers,
            target="preview.ip",
        )

    def _on(self, switch: str) -> bool:
        return bool(self.rt.switches.enabled(switch))

    async def create(self, tenant: str, theme_id: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        await self.rt.store.execute(
            "INSERT INTO theme_preview_tokens (hash, tenant, theme_id, revoked)"
            " VALUES (?, ?, ?, 0)",
            (token_hash(token), tenant, theme_id),
        )
        return {"token": token, "url": f"/preview/{token}"}

    async def revoke_all(self, tenant: str) -> dict[str, Any]:
        count = await self.rt.store.execute(
            "UPDATE theme_preview_tokens SET revoked = 1 WHERE tenant = ? AND revoked = 0",
            (tenant,),
        )
        return {"revoked": count}

    def _throttle(self, limiter: Any, key: str, scope: str) -> None:
        permit = limiter.try_acquire(key)
        if permit.allowed:
            return
        self.rt.emit(PreviewThrottled(target="preview", at=self.rt.clock.now(), scope=scope))
        raise ServiceError(
            "MELMASTOON.PREVIEW.RATE_LIMITED",
            f"too many preview requests for this {scope}; slow down",
            status=429,
            retry_after=max(1.0, permit.retry_after),
        )

    async def open(self, token: str, ip: str) -> dict[str, Any]:
        if self._on(IP_BLOCK) and self.blocker.blocked_for(ip):
            raise ServiceError(
                "MELMASTOON.PREVIEW.BLOCKED",
                "this address is blocked",
                status=403,
                retry_after=self.blocker.blocked_for(ip),
            )
        digest = token_hash(token)
        if self._on(LIMITS):
            self._throttle(self.tokens, digest, "token")
        rows = await self.rt.store.fetch(
            "SELECT tenant, theme_id FROM theme_preview_tokens WHERE hash = ? AND revoked = 0",
            (digest,),
        )
        if not rows:
            if self._on(IP_BLOCK):
                self.blocker.record_failure(ip)
            raise ServiceError("MELMASTOON.PREVIEW.NOT_FOUND", "no such preview link", status=404)
        tenant, theme_id = str(rows[0][0]), str(rows[0][1])
        if self._on(LIMITS):
            self._throttle(self.tenants, tenant, "tenant")
        async with self.scope.as_tenant(tenant):  # the link's tenant, from its row
            found = await self.rt.store.fetch(
                "SELECT revision, document FROM theme_themes WHERE tenant = ? AND id = ?",
                (tenant, theme_id),
            )
        if not found:
            raise ServiceError("MELMASTOON.PREVIEW.NOT_FOUND", "no such preview link", status=404)
        return {
            "theme": theme_id,
            "revision": int(found[0][0]),
            "document": json.loads(found[0][1]),
        }
