"""The AI co-author: an AI block written into a draft, within the tenant's AI budget.

- Budget: each cloud answer costs one unit of the tenant's budget (catalog choice: the
  seed gives percentages only). At 80 % the answer carries a warning, at 95 % admins are
  alerted, at 100 % the cloud model is refused: ``429 ai.refused.budget``.
- Fallback: when the cloud model is refused, down or its breaker open, the local model
  answers if the user consented (the block is marked reduced quality, with the local
  model's provenance); without consent the editor is told to continue manually.
- Units are billed once per answer, after it arrives (a retried call is not billed twice).
"""

from __future__ import annotations

import uuid
from typing import Any

import mitigate
from services.kit.errors import ServiceError

from .adapters.ai import AiAnswer, AiClient
from .drafts import Drafts
from .events import AiBudgetAlert, AiBudgetWarning, AiUnavailable

__all__ = ["CoAuthor"]

WARN_AT = 0.80
ALERT_AT = 0.95


class CoAuthor:
    def __init__(
        self, runtime: Any, settings: Any, *, drafts: Drafts, cloud: AiClient, local: AiClient
    ) -> None:
        self.rt = runtime
        self.settings = settings
        self.drafts = drafts
        self.cloud = cloud
        self.local = local
        switches = runtime.switches
        self.metered = switches.enabled("authoring.switch.ai-budget")
        self.fallback = switches.enabled("authoring.switch.ai-local-fallback")

    async def budget(self, tenant: str) -> dict[str, Any]:
        used = await self._used(tenant)
        limit = self.settings.ai_budget(tenant)
        share = used / limit if limit else 1.0
        status = "ok"
        if share >= 1.0:
            status = "exhausted"
        elif share >= WARN_AT:
            status = "warning"
        return {"used": used, "limit": limit, "share": round(share, 4), "status": status}

    async def write(
        self, tenant: str, draft_id: str, prompt: str, *, consent: bool
    ) -> dict[str, Any]:
        await self.drafts.get(tenant, draft_id)  # 404 before any AI call
        answer, reduced, reason = await self._answer(tenant, prompt, consent=consent)
        spec = {
            "kind": "ai-text",
            "body": {"text": answer.text, "reducedQuality": reduced},
            "aiProvenance": answer.provenance,
        }
        block = await self.drafts.add_block(tenant, draft_id, spec)
        return {
            "block": block,
            "reducedQuality": reduced,
            "fallbackReason": reason,
            "budget": await self.budget(tenant),
        }

    async def _answer(
        self, tenant: str, prompt: str, *, consent: bool
    ) -> tuple[AiAnswer, bool, str | None]:
        refusal: ServiceError
        before = await self.budget(tenant)
        if self.metered and before["status"] == "exhausted":
            refusal = ServiceError(
                "ai.refused.budget", "the tenant's AI budget is used up", status=429
            )
        else:
            try:
                answer = await self.cloud.generate(prompt)
            except Exception as exc:  # retries spent, timed out, or breaker open
                self.rt.emit(
                    AiUnavailable(
                        target="ai.generate", at=self.rt.clock.now(), reason=type(exc).__name__
                    )
                )
                refusal = ServiceError(
                    "AUTHORING.AI.UNAVAILABLE",
                    f"the AI is unavailable ({type(exc).__name__}); continue manually",
                    status=503,
                    retry_after=60,
                )
            else:
                await self._bill(tenant, before)
                return answer, False, None
        if not (self.fallback and consent):
            raise refusal
        answer = await self.local.generate(prompt)
        self.rt.emit(
            mitigate.FallbackUsed(
                target="ai.generate", at=self.rt.clock.now(), reason=refusal.code, source="local"
            )
        )
        return answer, True, refusal.code

    async def _used(self, tenant: str) -> int:
        row = await self.rt.store.fetch(
            "SELECT used FROM authoring_ai_usage WHERE tenant = ?", (tenant,)
        )
        return int(row[0][0]) if row else 0

    async def _bill(self, tenant: str, before: dict[str, Any]) -> None:
        async with self.rt.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO authoring_ai_usage (tenant, used) VALUES (?, 1)"
                " ON CONFLICT (tenant) DO UPDATE SET used = authoring_ai_usage.used + 1",
                (tenant,),
            )
        after = await self.budget(tenant)
        if not self.metered:
            return
        now = self.rt.clock.now()
        if before["share"] < WARN_AT <= after["share"]:
            self.rt.emit(AiBudgetWarning(target="ai.budget", at=now, tenant=tenant))
        if before["share"] < ALERT_AT <= after["share"]:
            self.rt.emit(AiBudgetAlert(target="ai.budget", at=now, tenant=tenant))
            await self.rt.store.execute(
                "INSERT INTO authoring_alerts (id, audience, tenant, subject, code, message,"
                " runbook, at) VALUES (?, 'admin', ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    tenant,
                    "ai-budget",
                    "AUTHORING.AI.BUDGET_95",
                    f"tenant {tenant} has used 95% of its AI budget",
                    "runbooks/ai-budget.md",
                    self.rt.clock.wall(),
                ),
            )
