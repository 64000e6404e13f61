"""The tenant-onboarding saga, a stand-in for the onboarding service (theme.fm.2.21).

Steps: ``account`` (the tenant exists; ``tenant.created.v1`` is sent), ``brand`` (waits
for the theme service to provision the default theme), ``welcome``. When provisioning
failed for good (its event is in the DLQ) the brand step is recorded ``degraded`` with
what is missing and the saga goes on: the tenant is onboarded, and the admin completes
branding in the wizard or an operator replays the event. Without that switch the brand
step fails the saga, which undoes the account.
"""

from __future__ import annotations

from typing import Any

import mitigate

from .provisioning import Provisioning, created_message

__all__ = ["SAGA", "Onboarding"]

SAGA = "tenant.onboarding"
SW_DEGRADED = "theme.switch.brand-degraded"


class ProvisioningPendingError(Exception):
    """The default theme is not there yet: the brand step asks again later."""


class BrandFailedError(Exception):
    """The default theme could not be provisioned."""


class Onboarding:
    def __init__(self, runtime: Any, provisioning: Provisioning, *, wait: float = 10.0) -> None:
        self.rt = runtime
        self.provisioning = provisioning
        self.saga = mitigate.Saga(
            SAGA,
            [
                mitigate.Step("account", self._account, self._close_account),
                mitigate.Step(
                    "brand",
                    self._brand,
                    retry=mitigate.Attempts(
                        max_retries=18, delays=(wait,), retry_on=(ProvisioningPendingError,)
                    ),
                ),
                mitigate.Step("welcome", self._welcome),
            ],
        )
        self.worker = mitigate.SagaWorker(
            runtime.store,
            [self.saga],
            clock=runtime.clock,
            observers=runtime.observers,
            policies=runtime.policy,
        )

    async def _record(self, tenant: str, step: str, state: str, detail: str = "") -> None:
        async with self.provisioning.scope.as_tenant(tenant):
            await self.rt.store.execute(
                "INSERT INTO theme_onboarding (tenant, step, state, detail) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant, step) DO UPDATE SET state = excluded.state,"
                " detail = excluded.detail",
                (tenant, step, state, detail),
            )

    async def _account(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        tenant = str(ctx.input["tenant"])
        await self._record(tenant, "account", "done")
        locale = str(ctx.input.get("locale", "en"))
        await self.rt.bus.publish(created_message(self.rt.settings, tenant, locale))
        return {"tenant": tenant}

    async def _close_account(self, ctx: mitigate.StepContext) -> None:
        await self._record(str(ctx.input["tenant"]), "account", "compensated")

    async def _brand(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        tenant = str(ctx.input["tenant"])
        status = await self.provisioning.status(tenant)
        if status["state"] == "provisioned":
            await self._record(tenant, "brand", "done")
            return {"brand": "done"}
        if status["state"] == "pending":
            raise ProvisioningPendingError(tenant)
        if not self.rt.switches.enabled(SW_DEGRADED):
            raise BrandFailedError(
                f"default theme of {tenant} not provisioned (DLQ {status['dlq']})"
            )
        detail = (
            f"default theme not provisioned (DLQ entries {status['dlq']}):"
            " complete branding in the wizard, or replay after the fix"
        )
        await self._record(tenant, "brand", "degraded", detail)
        return {"brand": "degraded", "dlq": status["dlq"]}

    async def _welcome(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        await self._record(str(ctx.input["tenant"]), "welcome", "done")
        return {"welcome": "sent"}

    async def onboard(self, tenant: str, locale: str = "en") -> mitigate.SagaOutcome:
        return await self.worker.execute(
            self.saga, {"tenant": tenant, "locale": locale}, id=f"onboard:{tenant}"
        )

    async def steps(self, tenant: str) -> dict[str, dict[str, str]]:
        async with self.provisioning.scope.as_tenant(tenant):
            rows = await self.rt.store.fetch(
                "SELECT step, state, detail FROM theme_onboarding WHERE tenant = ?", (tenant,)
            )
        return {str(s): {"state": str(st), "detail": str(d or "")} for s, st, d in rows}
