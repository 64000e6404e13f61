"""Broken asset references (theme.fm.2.14).

Content blocks show media as ``<img src="/media/<asset>" alt="...">``; the media service
keeps the file at ``media/<tenant>/<asset>`` in the object store (the origin). An asset the
active version uses can disappear two ways, and both end in one flag per block, a
``theme.broken_asset_detected.v1`` event (outbox) and a banner in the backoffice:

- ``media.deleted.v1`` from the media service, consumed through an inbox (a repeated
  delivery flags nothing twice);
- a silent deletion, found by the daily origin scan (a 404 at origin).

Pages never fail on it: the render path shows a placeholder with the alt text instead.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError

from .audit import report
from .provisioning import known_tenants

__all__ = ["BrokenAssets", "asset_refs", "media_key"]

DELETED = "media.deleted.v1"
DETECTED = "theme.broken_asset_detected.v1"
CONSUMER = "theme-media"
SW_DEDUPE = "theme.switch.inbox-dedupe"
SW_SCAN = "theme.switch.asset-scan"
SW_TOLERANT = "theme.switch.tolerant-render"
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(src|alt)="([^"]*)"', re.IGNORECASE)
log = logging.getLogger("services.theme.assets")


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenAssetDetected(mitigate.Event):
    name: ClassVar[str] = "theme.broken_asset_detected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    theme: str = ""
    block: str = ""
    asset: str = ""
    source: str = ""  # event or scan


def media_key(tenant: str, asset: str) -> str:
    return f"media/{tenant}/{asset}"


def _images(markup: str) -> list[tuple[str, str, str]]:
    """(tag, asset id, alt) of every media image in ``markup``."""
    found = []
    for tag in _IMG.findall(markup):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        src = attrs.get("src", "")
        if src.startswith("/media/"):
            found.append((tag, src.removeprefix("/media/"), attrs.get("alt", "")))
    return found


def asset_refs(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(block id, asset id) of every media image the document's blocks show."""
    return [
        (str(block.get("id", "")), asset)
        for block in document.get("blocks", [])
        for _, asset, _ in _images(str(block.get("html", "")))
    ]


class BrokenAssets:
    def __init__(self, runtime: Any, scope: Any, *, scan_every: float = 86400.0) -> None:
        self.rt = runtime
        self.scope = scope  # tenancy.TenantScope: events and the scan run as one tenant
        self.scan_every = scan_every
        self.outbox = mitigate.Outbox(runtime.store, clock=runtime.clock)
        self.inbox = mitigate.Inbox(
            runtime.store, CONSUMER, clock=runtime.clock, observers=runtime.observers
        )

    def _on(self, switch: str) -> bool:
        return bool(self.rt.switches.enabled(switch))

    async def _active(self, tenant: str, tx: Any = None) -> list[tuple[str, dict[str, Any]]]:
        """(theme, document) of each of ``tenant``'s themes with an active publication
        (read in ``tx`` when given: on SQLite a handler's transaction holds the only
        writer)."""
        sql = (
            "SELECT t.id, t.document FROM theme_themes t JOIN theme_publications p"
            " ON p.tenant = t.tenant AND p.theme_id = t.id AND p.active = 1"
            " WHERE t.tenant = ?"
        )
        rows = await (
            tx.fetchall(sql, (tenant,)) if tx is not None else self.rt.store.fetch(sql, (tenant,))
        )
        return [(str(a), json.loads(b)) for a, b in rows]

    async def _flag(
        self, tx: Any, tenant: str, theme: str, block: str, asset: str, source: str
    ) -> None:
        now = self.rt.clock.now()
        await tx.execute(
            "INSERT INTO theme_broken_assets (tenant, theme_id, block_id, asset_id, source, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tenant, theme, block, asset, source, now),
        )
        body = {"tenant": tenant, "theme": theme, "block": block, "asset": asset}
        await self.outbox.enqueue(
            tx, self.rt.settings.subject(DETECTED), body, key=f"{tenant}/{theme}"
        )
        log.warning("broken asset %s in %s/%s block %s (%s)", asset, tenant, theme, block, source)
        report(
            self.rt,
            BrokenAssetDetected(
                target=CONSUMER,
                at=now,
                tenant=tenant,
                theme=theme,
                block=block,
                asset=asset,
                source=source,
            ),
        )

    # -- the media.deleted.v1 consumer ----------------------------------------------------
    async def _apply(self, message: mitigate.Message, tx: Any) -> None:
        body = json.loads(message.payload)
        tenant, asset = str(body["tenant"]), str(body["assetId"])
        for theme, document in await self._active(tenant, tx):
            for block, used in asset_refs(document):
                if used == asset:
                    await self._flag(tx, tenant, theme, block, asset, "event")

    async def handle(self, message: mitigate.Message) -> None:
        await self.scope.handle(message, self._apply, self.inbox, dedupe=self._on(SW_DEDUPE))

    def consumer(self) -> mitigate.Consumer:
        rt = self.rt
        spec = mitigate.ConsumerSpec(CONSUMER, rt.settings.subject("media.>"), ack_wait=30.0)
        return mitigate.Consumer(
            rt.bus,
            spec,
            self.handle,
            retry=mitigate.Retry(5, base=2.0, cap=60.0),
            dead_letters=mitigate.DeadLetters(rt.store, clock=rt.clock, observers=rt.observers),
            clock=rt.clock,
            observers=rt.observers,
            injector=rt.injector,
        )

    async def consume(self, stop: asyncio.Event) -> None:
        consumer = self.consumer()
        running = asyncio.ensure_future(consumer.run())
        try:
            await stop.wait()
        finally:
            consumer.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await consumer.aclose()

    # -- the daily origin scan ------------------------------------------------------------
    async def flagged(self, tenant: str, theme: str | None = None) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT theme_id, block_id, asset_id, source, at FROM theme_broken_assets"
            " WHERE tenant = ?" + (" AND theme_id = ?" if theme else "") + " ORDER BY at",
            (tenant, theme) if theme else (tenant,),
        )
        keys = ("theme", "block", "asset", "source", "at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def scan(self) -> int:
        """Flag every referenced asset missing at origin, not flagged yet; how many. Tenant
        by tenant: each one's themes are read as that tenant."""
        found = 0
        for tenant in await known_tenants(self.rt):
            async with self.scope.as_tenant(tenant):
                found += await self._scan_tenant(tenant)
        return found

    async def _scan_tenant(self, tenant: str) -> int:
        found = 0
        for theme, document in await self._active(tenant):
            known = {(f["block"], f["asset"]) for f in await self.flagged(tenant, theme)}
            for block, asset in asset_refs(document):
                if (block, asset) in known or await self.rt.objects.exists(
                    media_key(tenant, asset)
                ):
                    continue
                async with self.rt.store.transaction() as tx:
                    await self._flag(tx, tenant, theme, block, asset, "scan")
                found += 1
        return found

    async def run(self, stop: asyncio.Event) -> None:
        from .orphans import sleep_or_stop

        while not stop.is_set():
            await sleep_or_stop(self.rt.clock, self.scan_every, stop)
            if stop.is_set() or not self._on(SW_SCAN):
                continue
            try:
                await self.scan()
            except Exception:  # the next day's scan tries again
                log.exception("broken asset scan failed")

    # -- the render path ------------------------------------------------------------------
    async def tolerate(self, tenant: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Blocks whose images are broken get a placeholder with the alt text; a page
        never fails on a missing asset. Without the switch a missing asset fails it."""
        out = []
        for block in blocks:
            markup = str(block.get("html", ""))
            for tag, asset, alt in _images(markup):
                if await self.rt.objects.exists(media_key(tenant, asset)):
                    continue
                if not self._on(SW_TOLERANT):
                    raise ServiceError(
                        "MELMASTOON.THEME.ASSET_MISSING",
                        f"asset {asset} of block {block.get('id')} is missing",
                        status=502,
                    )
                placeholder = (
                    f'<div class="asset-placeholder skeleton" role="img"'
                    f' aria-label="{html.escape(alt)}">{html.escape(alt)}</div>'
                )
                markup = markup.replace(tag, placeholder)
            out.append({**block, "html": markup})
        return out
