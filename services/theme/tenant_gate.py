"""Per-tenant bulkheads on the authoring path, and errors counted by tenant tier
(principle 4: one tenant's failure spares the others).

Each tenant gets its own bulkhead (``per_tenant`` calls in flight, none queued) in front
of the process-wide admission limit: a tenant that floods is refused at its own limit
with a fast 503 before it can take the shared slots. Every failed use case is counted in
``theme_usecase_errors_total{tenantTier}``, which tells a noisy neighbour from an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client import Counter

import mitigate

from .audit import report

__all__ = ["TenantGate", "UsecaseError"]

SWITCH = "theme.switch.tenant-bulkhead"
TARGET = "authoring.tenant"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsecaseError(mitigate.Event):
    name: ClassVar[str] = "theme.usecase_error"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    tier: str = ""
    code: str = ""


class TenantGate:
    def __init__(self, runtime: Any, tiers: dict[str, str], *, per_tenant: int = 4) -> None:
        self.rt = runtime
        self.tiers = tiers
        self.per_tenant = per_tenant
        self.gates: dict[str, mitigate.Pipeline] = {}
        self.errors = Counter(
            "theme_usecase_errors_total",
            "failed authoring use cases by tenant tier",
            ["tenantTier"],
            registry=runtime.registry,
        )

    def _gate(self, tenant: str) -> mitigate.Pipeline:
        gate = self.gates.get(tenant)
        if gate is None:
            gate = mitigate.Pipeline(
                TARGET,
                mitigate.Bulkhead(self.per_tenant, 0),
                clock=self.rt.clock,
                observers=self.rt.observers,
            )
            self.gates[tenant] = gate
        return gate

    async def run(self, tenant: str, call: Any, *args: Any) -> Any:
        try:
            if not self.rt.switches.enabled(SWITCH):
                return await call(*args)
            return await self._gate(tenant).acall(call, *args)
        except Exception as err:
            tier = self.tiers.get(tenant, "unknown")
            code = str(getattr(err, "code", "") or type(err).__name__)
            self.errors.labels(tenantTier=tier).inc()
            report(
                self.rt,
                UsecaseError(
                    target=TARGET, at=self.rt.clock.now(), tenant=tenant, tier=tier, code=code
                ),
            )
            raise
