"""The theme service's inbox for tenant events: ``tenant.created.v1`` provisions the
tenant's default theme, ``tenant.config_updated.v1`` keeps its formatting settings
(theme.fm.2.9, theme.fm.2.21).

Each message is handled once (the inbox records its id in the effect's transaction). A
handler that raises is redelivered after a growing delay, 5 retries, then the message goes
to the DLQ, the other messages flowing meanwhile; after the fix an operator replays it
(``POST /ops/dlq/replay``) and it is handled once.

``theme.provision.<tenant>`` is a fault point: chaos makes provisioning raise for one
tenant there, as a bug in ``ProvisionDefaultThemeUseCase`` would.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate

__all__ = ["CONSUMER", "CREATED", "UPDATED", "Provisioning", "created_message", "known_tenants"]

CREATED = "tenant.created.v1"
UPDATED = "tenant.config_updated.v1"
CONSUMER = "theme-tenants"
DEFAULT_THEME = "default"
SW_DEDUPE = "theme.switch.inbox-dedupe"
SW_RETRY = "theme.switch.inbox-retry"
SW_DLQ = "theme.switch.inbox-dlq"
log = logging.getLogger("services.theme.provisioning")


@dataclass(frozen=True, slots=True, kw_only=True)
class ThemeProvisioned(mitigate.Event):
    name: ClassVar[str] = "theme.default_provisioned"
    tenant: str = ""


def created_message(settings: Any, tenant: str, locale: str = "en") -> mitigate.Message:
    """The ``tenant.created.v1`` event as the tenant service sends it."""
    body = {"tenant": tenant, "defaultLocale": locale}
    return mitigate.Message(
        settings.subject(CREATED),
        json.dumps(body).encode(),
        id=f"tenant.created:{tenant}",
        key=tenant,
    )


def default_document(tenant: str, locale: str) -> dict[str, Any]:
    return {
        "name": f"{tenant} default",
        "colors": {"primary": "#1e3799", "background": "#ffffff", "text": "#1e272e"},
        "locales": [locale],
        "defaultLocale": locale,
        "copy": {locale: {"book": "Book"}},
        "ctas": [{"id": "book", "locale": locale, "key": "book"}],
        "blocks": [],
    }


async def known_tenants(runtime: Any) -> list[str]:
    """The tenants the service holds themes for: its tenant registry (a request from any
    other is refused) and every tenant a ``tenant.created.v1`` provisioned."""
    rows = await runtime.store.fetch("SELECT DISTINCT tenant FROM theme_provisioning_log")
    return sorted({*runtime.settings.tenants, *(str(r[0]) for r in rows)})


class Provisioning:
    def __init__(self, runtime: Any, scope: Any, *, retry_base: float = 2.0) -> None:
        self.rt = runtime
        self.scope = scope  # tenancy.TenantScope: a message is handled as its tenant
        self.retry_base = retry_base
        self.inbox = mitigate.Inbox(
            runtime.store, CONSUMER, clock=runtime.clock, observers=runtime.observers
        )
        self.dlq = mitigate.DeadLetters(
            runtime.store, clock=runtime.clock, observers=runtime.observers
        )

    def _on(self, switch: str) -> bool:
        return bool(self.rt.switches.enabled(switch))

    def _fault_point(self, tenant: str) -> None:
        injector = self.rt.injector
        if injector is None:
            return
        decision = injector.decide(f"theme.provision.{tenant}", self.rt.clock.now())
        if decision is not None and decision.error is not None:
            raise decision.error

    async def _apply(self, message: mitigate.Message, tx: Any) -> None:
        body = json.loads(message.payload)
        tenant = str(body["tenant"])
        if message.subject.endswith(UPDATED):
            await tx.execute(
                "INSERT INTO theme_tenant_config (tenant, config, at) VALUES (?, ?, ?)"
                " ON CONFLICT (tenant) DO UPDATE SET config = excluded.config, at = excluded.at",
                (tenant, json.dumps(body.get("config", {})), self.rt.clock.now()),
            )
            return
        await self.provision(tx, tenant, str(body.get("defaultLocale") or "en"), message.id)

    async def provision(self, tx: Any, tenant: str, locale: str, source: str) -> None:
        """ProvisionDefaultThemeUseCase: the tenant's default theme, in ``tx``."""
        self._fault_point(tenant)
        document = json.dumps(default_document(tenant, locale), sort_keys=True)
        await tx.execute(
            "INSERT INTO theme_themes (tenant, id, revision, state, document, updated_at)"
            " VALUES (?, ?, 1, 'preview_ready', ?, ?) ON CONFLICT (tenant, id) DO NOTHING",
            (tenant, DEFAULT_THEME, document, self.rt.clock.wall()),
        )
        await tx.execute(
            "INSERT INTO theme_provisioning_log (tenant, source, at) VALUES (?, ?, ?)",
            (tenant, source, self.rt.clock.now()),
        )
        self.rt.emit(ThemeProvisioned(target=CONSUMER, at=self.rt.clock.now(), tenant=tenant))

    async def handle(self, message: mitigate.Message) -> None:
        await self.scope.handle(message, self._apply, self.inbox, dedupe=self._on(SW_DEDUPE))

    def consumer(self) -> mitigate.Consumer:
        rt = self.rt
        retries = 5 if self._on(SW_RETRY) else 0  # the seed's "max 5 -> DLQ": 5 retries
        spec = mitigate.ConsumerSpec(CONSUMER, rt.settings.subject("tenant.>"), ack_wait=30.0)
        return mitigate.Consumer(
            rt.bus,
            spec,
            self.handle,
            retry=mitigate.Retry(retries, base=self.retry_base, cap=60.0),
            dead_letters=self.dlq if self._on(SW_DLQ) else None,
            clock=rt.clock,
            observers=rt.observers,
            injector=rt.injector,
        )

    async def run(self, stop: Any) -> None:
        """The consumer as a background loop of the service."""
        consumer = self.consumer()
        task = consumer.run()
        import asyncio

        running = asyncio.ensure_future(task)
        try:
            await stop.wait()
        finally:
            consumer.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await consumer.aclose()

    async def status(self, tenant: str) -> dict[str, Any]:
        """``provisioned``, ``failed`` (its event is in the DLQ) or ``pending``."""
        done = await self.rt.store.fetch(
            "SELECT COUNT(*) FROM theme_provisioning_log WHERE tenant = ?", (tenant,)
        )
        if int(done[0][0]) > 0:
            return {"tenant": tenant, "state": "provisioned", "times": int(done[0][0])}
        dead = [
            d
            for d in await self.dlq.entries(source=CONSUMER)
            if d.msg_id == f"tenant.created:{tenant}"
        ]
        if dead:
            return {"tenant": tenant, "state": "failed", "dlq": [d.id for d in dead]}
        return {"tenant": tenant, "state": "pending"}
