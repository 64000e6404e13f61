"""The error-budget policy (comms.budget.1): SLI samples in, burn and the freeze flag out.

Two SLOs, send latency and dispatch success, share the catalog's ``error_budget`` terms
(objective, 30-day budget, 50 % in any 7-day window). Each batch of samples is stored with
the clock's time; after each one, the burn of every SLO over the trailing 7 days (a
sliding window, so no calendar week can hide a burn that straddles two) is measured as
the share of the 30-day budget it spent, assuming steady traffic:

    burn = (bad / total over 7 days) / ((1 - objective) x 30 / 7)

More than 50 % sets the freeze flag; it clears once the trailing window holds 50 % or
less again. The gate refuses changes to adapter code while the flag is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["ADAPTER_PATHS", "SLOS", "BudgetBurn", "ErrorBudgets"]

SLOS = ("send-latency", "dispatch-success")
# What "adapter changes" means for the gate: the provider adapters of the service.
ADAPTER_PATHS = ("services/comms/adapters/",)
_FLAG = "adapter-freeze"


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetBurn(mitigate.Event):
    """The largest burn over the SLOs after a batch (target ``budget.<slo>`` of that SLO);
    ``frozen``: whether the freeze flag is set after it."""

    name: ClassVar[str] = "comms.budget_burn"
    burn: float = 0.0
    frozen: bool = False


class ErrorBudgets:
    def __init__(self, runtime: Any, policy: Any, *, switch: str) -> None:
        if policy is None or policy.objective is None:
            raise ValueError("the comms catalog needs an error_budget with an objective")
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.switch = switch
        self.objective = float(policy.objective)
        self.window = _seconds(policy.window)
        self.burn_window = _seconds(policy.burn_window)
        self.threshold = float(policy.burn_threshold)

    def _on(self) -> bool:
        return bool(self.runtime.switches.enabled(self.switch))

    async def record(self, slo: str, good: int, bad: int) -> dict[str, Any]:
        """Store one batch of samples of ``slo``; judge every SLO's burn and the flag."""
        now = self.clock.now()
        await self.store.execute(
            "INSERT INTO comms_sli (slo, at, good, bad) VALUES (?, ?, ?, ?)",
            (slo, now, good, bad),
        )
        burns = {name: await self.burn(name) for name in SLOS}
        worst = max(burns, key=lambda name: burns[name])
        frozen = burns[worst] > self.threshold and self._on()
        await self._flag(frozen, worst if frozen else "")
        self.runtime.emit(
            BudgetBurn(target=f"budget.{worst}", at=now, burn=burns[worst], frozen=frozen)
        )
        return {"burn": burns, "frozen": frozen}

    async def samples(self, slo: str) -> tuple[int, int]:
        """(good, bad) samples of ``slo`` in the trailing burn window."""
        since = self.clock.now() - self.burn_window
        rows = await self.store.fetch(
            "SELECT COALESCE(SUM(good), 0), COALESCE(SUM(bad), 0) FROM comms_sli"
            " WHERE slo = ? AND at > ?",
            (slo, since),
        )
        good, bad = (int(v) for v in rows[0])
        return good, bad

    async def burn(self, slo: str) -> float:
        """The share of the 30-day budget ``slo`` spent in the trailing burn window."""
        good, bad = await self.samples(slo)
        if good + bad == 0:
            return 0.0
        allowed = (1.0 - self.objective) * self.window / self.burn_window
        return (bad / (good + bad)) / allowed

    async def _flag(self, frozen: bool, slo: str) -> None:
        if frozen:
            await self.store.execute(
                "INSERT INTO comms_flags (name, value, at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value, at = excluded.at",
                (_FLAG, slo, self.clock.now()),
            )
        else:
            await self.store.execute("DELETE FROM comms_flags WHERE name = ?", (_FLAG,))

    async def frozen(self) -> str | None:
        """The SLO that set the freeze flag, or None when it is clear."""
        rows = await self.store.fetch("SELECT value FROM comms_flags WHERE name = ?", (_FLAG,))
        return str(rows[0][0]) if rows else None

    async def gate(self, paths: list[str]) -> dict[str, Any]:
        """Whether a change touching ``paths`` may land: adapter code waits while frozen."""
        slo = await self.frozen()
        adapters = sorted(p for p in paths if p.startswith(ADAPTER_PATHS))
        refused = bool(slo) and bool(adapters) and self._on()
        return {"allowed": not refused, "frozen": slo is not None, "slo": slo, "adapters": adapters}


def _seconds(value: float | str) -> float:
    return float(value) if isinstance(value, int | float) else float(mitigate.parse_duration(value))
