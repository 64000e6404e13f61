"""Email bounce tracking per tenant and category (comms.fm.3).

Each email outcome (``delivered`` or ``bounced``) is counted; once a tenant's category has
``min_sends`` outcomes in the window and more than 5 % of them bounced, the category is
throttled for that tenant (one email per ``throttle_every``); if after ``probe`` more
outcomes the ratio is still above 5 %, it is disabled for that tenant: its dispatches are
``suppressed`` (kept, visible, re-sendable) until an operator enables it again. Other
tenants and categories are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["BounceGuard", "EmailOutcome"]

RATIO = 0.05  # "bounce ratio > 5%"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailOutcome(mitigate.Event):
    """One email's outcome, target ``email.<tenant>.<category>``: every email emits
    ``email.outcome`` (the ratio's denominator) and a bounce then also ``email.bounced``
    (its numerator), so the ratio is judged with the bounce already counted in both."""

    name: ClassVar[str] = "email.outcome"
    outcome: str = ""
    began: float = 0.0  # when the send was let through (its outcome comes later)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailBounced(mitigate.Event):
    name: ClassVar[str] = "email.bounced"
    began: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailCategoryChanged(mitigate.Event):
    """A tenant's email category was throttled, disabled or enabled again."""

    name: ClassVar[str] = "comms.email_category_changed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    state: str = ""


class BounceGuard:
    def __init__(self, runtime: Any, settings: Any, *, switches: dict[str, str]) -> None:
        self.runtime = runtime
        self.settings = settings
        self.store = runtime.store
        self.clock = runtime.clock
        self.switches = switches

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def control(self, tenant: str, category: str) -> tuple[str, float, float]:
        """(state, since, last_send) of the tenant's category: ``open`` when never changed."""
        rows = await self.store.fetch(
            "SELECT state, since, last_send FROM comms_email_controls"
            " WHERE tenant = ? AND category = ?",
            (tenant, category),
        )
        if not rows:
            return "open", 0.0, 0.0
        state, since, last = rows[0]
        return str(state), float(since), float(last or 0.0)

    async def gate(self, tenant: str, category: str) -> float | None:
        """None: send now (and it is counted as the last send); else how long to wait.
        Raises nothing: a disabled category answers ``inf``."""
        state, _, last = await self.control(tenant, category)
        now = self.clock.now()
        if state == "disabled":
            return float("inf")
        if state == "throttled":
            # Take the turn atomically: two sends of the category racing for one turn
            # cannot both win it.
            took = await self.store.execute(
                "UPDATE comms_email_controls SET last_send = ? WHERE tenant = ?"
                " AND category = ? AND COALESCE(last_send, 0) <= ?",
                (now, tenant, category, now - self.settings.email_throttle_every),
            )
            if not took:
                return float(max(1.0, last + self.settings.email_throttle_every - now))
        return None

    async def record(self, tenant: str, category: str, outcome: str, *, began: float) -> None:
        now = self.clock.now()
        target = f"email.{tenant}.{category}"
        self.runtime.emit(EmailOutcome(target=target, at=now, began=began, outcome=outcome))
        if outcome == "bounced":
            self.runtime.emit(EmailBounced(target=target, at=now, began=began))
        await self.store.execute(
            "INSERT INTO comms_email_outcomes (tenant, category, outcome, at) VALUES (?, ?, ?, ?)",
            (tenant, category, outcome, now),
        )
        state, since, _ = await self.control(tenant, category)
        if state == "disabled":
            return
        start = max(now - self.settings.email_bounce_window, since)
        rows = await self.store.fetch(
            "SELECT outcome, COUNT(*) FROM comms_email_outcomes WHERE tenant = ?"
            " AND category = ? AND at >= ? GROUP BY outcome",
            (tenant, category, start),
        )
        counts = {str(o): int(n) for o, n in rows}
        total = sum(counts.values())
        if total < self.settings.email_min_sends or counts.get("bounced", 0) / total <= RATIO:
            return
        if state == "open" and self._on("throttle"):
            await self._change(tenant, category, "throttled", since=since, at=now)
            return
        if state == "throttled" and self._on("disable"):
            after = await self.store.fetch(
                "SELECT COUNT(*) FROM comms_email_outcomes WHERE tenant = ? AND category = ?"
                " AND at > (SELECT at FROM comms_email_controls WHERE tenant = ? AND category = ?)",
                (tenant, category, tenant, category),
            )
            if int(after[0][0]) >= self.settings.email_probe:
                await self._change(tenant, category, "disabled", since=since, at=now)

    async def enable(self, tenant: str, category: str) -> bool:
        """Open the category again; bounces before now no longer count."""
        state, _, _ = await self.control(tenant, category)
        if state == "open":
            return False
        await self._change(tenant, category, "open", since=self.clock.now(), at=self.clock.now())
        return True

    async def _change(
        self, tenant: str, category: str, state: str, *, since: float, at: float
    ) -> None:
        await self.store.execute(
            "INSERT INTO comms_email_controls (tenant, category, state, since, at, last_send)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, category) DO UPDATE SET"
            " state = excluded.state, since = excluded.since, at = excluded.at",
            (tenant, category, state, since, at, at),
        )
        self.runtime.emit(
            EmailCategoryChanged(target=f"email.{tenant}.{category}", at=at, state=state)
        )
