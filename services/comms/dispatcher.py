"""Dispatches: one message to one recipient, per tenant, category and channel, rendered
from a shipped template and sent by the worker through the channel's providers.

States: ``queued`` (waiting for the worker, maybe until ``due_at``), ``sent``, ``held``
(its template is missing: nothing sent; sent once the template is deployed), ``blocked``
(the pre-send PII assertion tripped; kept for resend), ``halted`` (its category is halted
on that channel).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import mitigate

from .adapters.email import EmailSender
from .adapters.push import PushSender
from .adapters.sms import SmsProvider
from .bounces import BounceGuard
from .domain.templates import TemplateMissingError, Templates
from .events import CategoryHalted, TemplateNotFound

__all__ = ["SWITCHES", "Dispatcher"]

log = logging.getLogger("services.comms.dispatcher")

SWITCHES = {
    "fail_closed": "comms.switch.template-fail-closed",
    "failover": "comms.switch.sms-failover",
    "status_query": "comms.switch.sms-status-query",
    "pii": "comms.switch.push-pii-assertion",
    "halt": "comms.switch.category-halt",
    "receipt_limit": "comms.switch.receipt-rate-limit",
    "receipt_dedupe": "comms.switch.receipt-dedupe",
    "email_throttle": "comms.switch.email-throttle",
    "email_disable": "comms.switch.email-disable",
    "fallback_thread": "comms.switch.fallback-thread",
    "thread_breaker": "comms.switch.thread-breaker",
    "emergency_rotation": "comms.switch.emergency-rotation",
    "session_revoke": "comms.switch.session-revoke",
    "keep_source": "comms.switch.keep-recording-source",
    "gateway_cap": "comms.switch.gateway-upload-cap",
    "service_cap": "comms.switch.service-upload-cap",
    "url_cap": "comms.switch.signed-url-upload-cap",
    "skew_guard": "comms.switch.skew-guard",
    "db_order": "comms.switch.receipt-db-order",
    "erasure_replay": "comms.switch.erasure-replay",
    "scheduling_inbox": "comms.switch.scheduling-inbox",
    "outbox": "comms.switch.outbox",
    "poison_dlq": "comms.switch.poison-dlq",
    "budget_freeze": "comms.switch.budget-freeze",
    "participant_check": "comms.switch.participant-check",
    "log_pii_scan": "comms.switch.log-pii-scan",
    "idempotency_fallback": "comms.switch.idempotency-db-fallback",
    "scan_backpressure": "comms.switch.scan-upload-refusal",
    "scan_scale": "comms.switch.scan-scale-out",
    "replica_reads": "comms.switch.replica-reads",
    "preflight_writes": "comms.switch.preflight-writes",
}
_COLUMNS = (
    "id, tenant, category, channel, template, recipient, state, provider, provider_id,"
    " reason, tries, created_at, updated_at"
)


def _view(row: Any) -> dict[str, Any]:
    keys = [k.strip() for k in _COLUMNS.split(",")]
    out = dict(zip(keys, row, strict=True))
    return {
        "id": out["id"],
        "tenant": out["tenant"],
        "category": out["category"],
        "channel": out["channel"],
        "template": out["template"],
        "state": out["state"],
        "provider": out["provider"],
        "reason": out["reason"],
        "tries": int(out["tries"]),
        "createdAt": float(out["created_at"]),
        "updatedAt": float(out["updated_at"]),
    }


class Dispatcher:
    def __init__(
        self,
        runtime: Any,
        settings: Any,
        *,
        templates: Templates,
        sms: list[SmsProvider],
        push: PushSender,
        email: EmailSender | None = None,
        bounces: BounceGuard | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.templates = templates
        self.sms = sms
        self.push = push
        self.email = email
        self.bounces = bounces
        self.erasures: Any = None  # Erasures: keeps the dispatch log it erases from
        self.events: Any = None  # Events: each state change is published through the outbox
        self.sli: Any = None  # SliFeed: each dispatch's end counted for the error budget
        self.failover: Any = None  # Failover: new dispatches wait there while the primary is away
        self.store = runtime.store
        self.clock = runtime.clock

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(SWITCHES[what]))

    # -- use cases the API calls -----------------------------------------------------
    async def create(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        dispatch_id = f"d-{uuid.uuid4().hex[:16]}"
        try:
            return await self._create(dispatch_id, tenant, body)
        except mitigate.StoreUnavailableError:
            # The primary is away: a new dispatch can wait in the preflight store.
            if self.failover is None or not await self.failover.accept(dispatch_id, tenant, body):
                raise
        waiting = await self.failover.waiting(tenant, dispatch_id)
        return dict(waiting[0])

    async def log_dispatch(
        self, dispatch_id: str, tenant: str, body: dict[str, Any], at: float
    ) -> None:
        if self.erasures is not None:  # the dispatch log: who was sent what, when
            await self.erasures.append_log(
                {
                    "dispatch": dispatch_id,
                    "tenant": tenant,
                    "recipient": body["to"],
                    "channel": body["channel"],
                    "category": body["category"],
                    "at": at,
                }
            )

    async def _create(self, dispatch_id: str, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        await self.store.execute(
            "INSERT INTO comms_dispatches (id, tenant, category, channel, template, recipient,"
            " vars, state, tries, due_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
            (
                dispatch_id,
                tenant,
                body["category"],
                body["channel"],
                body["template"],
                body["to"],
                json.dumps(body.get("vars") or {}),
                now,
                now,
                now,
            ),
        )
        await self.log_dispatch(dispatch_id, tenant, body, now)
        found = await self.get(tenant, dispatch_id)
        assert found is not None
        return found

    async def get(self, tenant: str, dispatch_id: str, store: Any = None) -> dict[str, Any] | None:
        rows = await (store or self.store).fetch(
            f"SELECT {_COLUMNS} FROM comms_dispatches WHERE id = ? AND tenant = ?",
            (dispatch_id, tenant),
        )
        return _view(rows[0]) if rows else None

    async def listing(
        self, tenant: str, state: str | None, limit: int = 500, store: Any = None
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM comms_dispatches WHERE tenant = ?"
        params: tuple[Any, ...] = (tenant,)
        if state:
            sql += " AND state = ?"
            params += (state,)
        rows = await (store or self.store).fetch(
            sql + " ORDER BY created_at, id LIMIT ?", (*params, limit)
        )
        return [_view(r) for r in rows]

    async def notices(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT id, tenant, code, subject, message, runbook, at FROM comms_notices"
            " ORDER BY at, id"
        )
        keys = ("id", "tenant", "code", "subject", "message", "runbook", "at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def halts(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT channel, category, reason, at FROM comms_halts ORDER BY at"
        )
        return [dict(zip(("channel", "category", "reason", "at"), r, strict=True)) for r in rows]

    async def resume(self, channel: str, category: str) -> bool:
        gone = await self.store.execute(
            "DELETE FROM comms_halts WHERE channel = ? AND category = ?", (channel, category)
        )
        return bool(gone)

    async def replay(self, state: str) -> int:
        """Queue again every dispatch in ``state`` (``held``, ``blocked``, ``halted``)."""
        now = self.clock.now()
        changed = await self.store.execute(
            "UPDATE comms_dispatches SET state = 'queued', due_at = ?, updated_at = ?"
            " WHERE state = ?",
            (now, now, state),
        )
        return int(changed or 0)

    # -- the worker ------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a store hiccup: the next tick tries again
                log.exception("dispatch tick failed; retrying on the next poll")
            await self.clock.asleep(self.settings.poll)

    async def tick(self) -> int:
        """Send every dispatch that is due; release held ones whose template is deployed."""
        await self._release_held()
        rows = await self.store.fetch(
            "SELECT id, tenant, category, channel, template, recipient, vars, tries"
            " FROM comms_dispatches WHERE state = 'queued' AND due_at <= ?"
            " ORDER BY created_at, id LIMIT 100",
            (self.clock.now(),),
        )
        # Sent side by side, as many at once as the settings allow: one slow provider
        # answer must not hold every other patient's reminder back. Emails of one tenant's
        # category go one after another, in order: their bounce ratio is judged in the
        # order they were asked for, and a throttle gives them turns.
        gate = asyncio.Semaphore(max(1, int(self.settings.send_concurrency)))
        lanes: dict[Any, list[Any]] = {}
        for row in rows:
            lane = (row[1], row[2]) if row[3] == "email" else row[0]
            lanes.setdefault(lane, []).append(row)

        async def one(lane: list[Any]) -> None:
            for row in lane:
                async with gate:
                    await self._dispatch(*row)

        await asyncio.gather(*(one(lane) for lane in lanes.values()))
        return len(rows)

    async def _release_held(self) -> None:
        rows = await self.store.fetch(
            "SELECT DISTINCT channel, template FROM comms_dispatches WHERE state = 'held'"
        )
        now = self.clock.now()
        for channel, template in rows:
            if self.templates.exists(channel, template):
                await self.store.execute(
                    "UPDATE comms_dispatches SET state = 'queued', due_at = ?, updated_at = ?"
                    " WHERE state = 'held' AND channel = ? AND template = ?",
                    (now, now, channel, template),
                )

    async def _dispatch(
        self,
        dispatch_id: str,
        tenant: str,
        category: str,
        channel: str,
        template: str,
        recipient: str,
        raw_vars: str,
        tries: int,
    ) -> None:
        if self._on("halt") and await self._halted(channel, category):
            await self._set(dispatch_id, "halted", reason=f"{channel}/{category} is halted")
            return
        values = {**json.loads(raw_vars), "category": category, "dispatch_id": dispatch_id}
        try:
            content = self.templates.render(channel, template, values)
        except TemplateMissingError as exc:
            if self._on("fail_closed"):
                await self._hold(dispatch_id, tenant, channel, template, str(exc))
                return
            content = {"body": ""}  # what a fail-open renderer would send: a blank message
        if channel == "sms":
            await self._send_sms(dispatch_id, recipient, str(content.get("body", "")), tries)
        elif channel == "push":
            await self._send_push(dispatch_id, tenant, category, recipient, content)
        elif channel == "email" and self.email is not None:
            await self._send_email(dispatch_id, tenant, category, recipient, content, tries)
        else:
            await self._set(dispatch_id, "failed", reason=f"channel {channel} is not served")

    async def _send_sms(self, dispatch_id: str, to: str, body: str, tries: int) -> None:
        reasons: list[str] = []
        for provider in self.sms:
            outcome = await provider.send(dispatch_id, to, body)
            if outcome.state == "unknown" and self._on("status_query"):
                # No answer seen: the provider may hold the message. Ask it before any
                # other provider is tried; sending blindly would text the patient twice.
                try:
                    found = await provider.lookup(dispatch_id)
                except Exception as exc:
                    await self._later(
                        dispatch_id, tries, f"{provider.name}: outcome unknown ({exc})"
                    )
                    return
                if found is not None:
                    await self._set(dispatch_id, "sent", provider=provider.name, provider_id=found)
                    return
            if outcome.state == "sent":
                await self._set(
                    dispatch_id, "sent", provider=provider.name, provider_id=outcome.provider_id
                )
                return
            reasons.append(f"{provider.name}: {outcome.reason}")
            if not self._on("failover"):
                break
        await self._later(dispatch_id, tries, "; ".join(reasons))

    async def _send_push(
        self, dispatch_id: str, tenant: str, category: str, token: str, payload: Any
    ) -> None:
        try:
            provider_id = await self.push.send(token, payload, guarded=self._on("pii"))
        except mitigate.PiiLeakError as exc:
            await self._set(dispatch_id, "blocked", reason=str(exc))
            if self._on("halt"):
                await self._halt("push", category, f"pre-send PII assertion tripped: {exc.path}")
            await self.notice(
                tenant,
                "COMMS.PUSH.PII_BLOCKED",
                dispatch_id,
                f"push payload carried {exc.path}; dispatch kept for resend, category halted",
                "runbooks/push-phi-leak.md",
            )
            return
        except Exception as exc:
            await self._later(dispatch_id, 0, f"push: {exc}")
            return
        await self._set(dispatch_id, "sent", provider="push", provider_id=provider_id)

    async def _send_email(
        self, dispatch_id: str, tenant: str, category: str, to: str, content: Any, tries: int
    ) -> None:
        assert self.email is not None
        began = self.clock.now()
        if self.bounces is not None:
            wait = await self.bounces.gate(tenant, category)
            if wait == float("inf"):
                reason = f"email/{category} disabled for {tenant} after bounces"
                await self._set(dispatch_id, "suppressed", reason=reason)
                return
            if wait is not None:  # throttled: its turn comes later (not a failed try)
                await self._later(dispatch_id, tries - 1, "email category throttled", after=wait)
                return
        try:
            outcome = await self.email.send(
                dispatch_id, to, str(content.get("subject", "")), str(content.get("text", ""))
            )
        except Exception as exc:
            await self._later(dispatch_id, tries, f"email: {exc}")
            return
        if self.bounces is not None:
            await self.bounces.record(tenant, category, outcome, began=began)
        state = "sent" if outcome == "delivered" else "bounced"
        await self._set(dispatch_id, state, provider="smtp")

    # -- state changes -----------------------------------------------------------------
    async def _set(
        self,
        dispatch_id: str,
        state: str,
        *,
        provider: str | None = None,
        provider_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        rows: list[Any] = []
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE comms_dispatches SET state = ?, provider = ?, provider_id = ?,"
                " reason = ?, updated_at = ? WHERE id = ?",
                (state, provider, provider_id, reason, self.clock.now(), dispatch_id),
            )
            if self.events is not None or self.sli is not None:
                rows = await tx.fetchall(
                    "SELECT tenant, created_at FROM comms_dispatches WHERE id = ?", (dispatch_id,)
                )
                tenant = str(rows[0][0]) if rows else ""
                if self.events is not None:
                    await self.events.dispatch_state(tx, dispatch_id, tenant, state)
        if self.sli is not None and rows:
            self.sli.finished(state, self.clock.now() - float(rows[0][1]))

    async def _later(
        self, dispatch_id: str, tries: int, reason: str, *, after: float | None = None
    ) -> None:
        now = self.clock.now()
        wait = self.settings.redispatch_after if after is None else after
        await self.store.execute(
            "UPDATE comms_dispatches SET state = 'queued', tries = ?, due_at = ?, reason = ?,"
            " updated_at = ? WHERE id = ?",
            (tries + 1, now + wait, reason[:500], now, dispatch_id),
        )

    async def _hold(
        self, dispatch_id: str, tenant: str, channel: str, template: str, why: str
    ) -> None:
        await self._set(dispatch_id, "held", reason=why)
        self.runtime.emit(
            TemplateNotFound(
                target=f"template.{channel}",
                at=self.clock.now(),
                template=template,
                channel=channel,
            )
        )
        await self.notice(
            tenant,
            "COMMS.TEMPLATE.NOT_FOUND",
            dispatch_id,
            f"{why}: dispatch held, nothing sent; it is sent once the template is deployed",
            "runbooks/template-not-found.md",
        )

    async def _halted(self, channel: str, category: str) -> bool:
        rows = await self.store.fetch(
            "SELECT 1 FROM comms_halts WHERE channel = ? AND category = ?", (channel, category)
        )
        return bool(rows)

    async def _halt(self, channel: str, category: str, reason: str) -> None:
        added = await self.store.execute(
            "INSERT INTO comms_halts (channel, category, reason, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (channel, category) DO NOTHING",
            (channel, category, reason, self.clock.now()),
        )
        if added:
            self.runtime.emit(
                CategoryHalted(
                    target=f"{channel}.{category}",
                    at=self.clock.now(),
                    channel=channel,
                    category=category,
                    reason=reason,
                )
            )

    async def notice(
        self, tenant: str, code: str, subject: str, message: str, runbook: str
    ) -> None:
        await self.store.execute(
            "INSERT INTO comms_notices (id, tenant, code, subject, message, runbook, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"n-{uuid.uuid4().hex[:16]}",
                tenant,
                code,
                subject,
                message,
                runbook,
                self.clock.now(),
            ),
        )
