"""The AI gateway role: per-tenant budgets, a primary model behind retry and timeout, a
smaller fallback model, and clear refusals.

- A tenant over its daily AI budget (``limits.ai_requests_per_day``) gets 429 with reason
  ``quota`` before any provider call, so no tenant drains the provider's global quota.
- The primary model runs under the ``ai.primary`` policy (retries, attempt timeout,
  budget); when it fails the fallback model answers under ``ai.fallback`` and the answer
  says so; when both fail the caller gets 503 "AI provider is currently unavailable".
- A provider refusal (invalid key: auth; provider quota) is returned by the client, not
  raised, so nothing retries it or falls back from it; the caller gets the reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mitigate.web import current_trace_id
from services.kit.errors import ServiceError

from .adapters.ai_provider import AiClient, ProviderError, ProviderRefusal
from .events import AiProviderFailed, AiRejected, AiUnavailable

__all__ = ["UNAVAILABLE", "AiGateway"]

UNAVAILABLE = "AI provider is currently unavailable"
PRIMARY, FALLBACK = "large-model", "small-model"

log = logging.getLogger("services.edge.ai")


class AiGateway:
    def __init__(self, runtime: Any, client: AiClient, *, platform_key: str) -> None:
        self.rt = runtime
        self.client = client
        self.platform_key = platform_key

    async def _config(self, tenant: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch("SELECT config FROM edge_tenants WHERE id = ?", (tenant,))
        return dict(json.loads(rows[0][0])) if rows else {}

    def _day(self) -> int:
        return int(self.rt.clock.wall() // 86400)

    async def _used(self, tenant: str) -> int:
        rows = await self.rt.store.fetch(
            "SELECT used FROM edge_ai_usage WHERE tenant = ? AND day = ?", (tenant, self._day())
        )
        return int(rows[0][0]) if rows else 0

    async def _count(self, tenant: str) -> None:
        async with self.rt.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT used FROM edge_ai_usage WHERE tenant = ? AND day = ?",
                (tenant, self._day()),
            )
            if row is None:
                await tx.execute(
                    "INSERT INTO edge_ai_usage (tenant, day, used) VALUES (?, ?, 1)",
                    (tenant, self._day()),
                )
            else:
                await tx.execute(
                    "UPDATE edge_ai_usage SET used = used + 1 WHERE tenant = ? AND day = ?",
                    (tenant, self._day()),
                )

    def _reject(self, tenant: str, reason: str, source: str, status: int, message: str) -> None:
        self.rt.emit(
            AiRejected(target=tenant, at=self.rt.clock.now(), reason=reason, source=source)
        )
        fields = {
            "requestId": current_trace_id() or "",
            "tenantId": tenant,
            "reason": reason,
            "source": source,
        }
        log.warning("ai request rejected %s", json.dumps(fields), extra=fields)
        code = "EDGE.AI.QUOTA" if reason == "quota" else "EDGE.AI.AUTH"
        raise ServiceError(code, f"{message} (reason: {reason})", status=status)

    async def _call(self, policy: str, model: str, key: str, prompt: str) -> str | ProviderRefusal:
        async def attempt() -> str | ProviderRefusal:
            result = await self.client.complete(model, key, prompt)
            if isinstance(result, ProviderRefusal) and not self.rt.switches.enabled(
                "edge.switch.ai-refusal-final"
            ):
                raise ProviderError(f"{model}: {result.reason}")  # the mutation: retried
            return result

        answer: str | ProviderRefusal = await self.rt.policy(policy).acall(attempt)
        return answer

    async def answer(self, tenant: str, prompt: str) -> dict[str, Any]:
        config = await self._config(tenant)
        budget = int(config.get("limits", {}).get("ai_requests_per_day", 100))
        gated = self.rt.switches.enabled("edge.switch.ai-tenant-budget")
        if gated and await self._used(tenant) >= budget:
            self._reject(tenant, "quota", "tenant budget", 429, f"AI budget of {budget}/day spent")
        key = str(config.get("ai_key") or self.platform_key)
        chain = [(PRIMARY, "ai.primary")]
        if self.rt.switches.enabled("edge.switch.ai-fallback"):
            chain.append((FALLBACK, "ai.fallback"))
        for model, policy in chain:
            try:
                result = await self._call(policy, model, key, prompt)
            except Exception as exc:
                self.rt.emit(
                    AiProviderFailed(
                        target=model, at=self.rt.clock.now(), tenant_id=tenant, error=exc
                    )
                )
                continue
            if isinstance(result, ProviderRefusal):
                status = 429 if result.reason == "quota" else 502
                self._reject(tenant, result.reason, "provider", status, result.message)
            await self._count(tenant)
            return {"model": model, "fallback": model != PRIMARY, "answer": result}
        self.rt.emit(AiUnavailable(target="ai", at=self.rt.clock.now(), tenant_id=tenant))
        raise ServiceError("EDGE.AI.UNAVAILABLE", UNAVAILABLE, status=503, retry_after=30)
