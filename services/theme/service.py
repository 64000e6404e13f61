"""The theme service assembled: runtime, use cases, app; and ``serve``.

``open_theme(settings)`` builds it on the backends the settings name (or on a runtime an
experiment built); ``serve()`` is what ``uv run mitigate serve theme`` runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from services.kit.runtime import Runtime
from services.kit.serve import background, run_service

from .adapters.ai import AiClient, FakeOrchestrator
from .adapters.cdn import CdnClient, FakeCdn
from .app import build_app
from .assets import BrokenAssets
from .invalidation import PurgeRetrier
from .onboarding import Onboarding
from .orphans import OrphanSweep
from .policy_scan import PolicyScan
from .previews import PreviewLinks
from .provisioning import Provisioning
from .reader import BundleReader
from .relays import RelayPool
from .schema import ensure_schema
from .settings import ThemeSettings
from .suggestions import Suggestions
from .tenancy import TenantScope, check_database_role
from .tenant_gate import TenantGate
from .tenant_store import TenantBoundStore
from .themes import Themes

__all__ = ["Theme", "open_theme", "serve"]


@dataclass
class Theme:
    settings: ThemeSettings
    runtime: Runtime
    themes: Themes
    orphans: OrphanSweep
    purges: PurgeRetrier
    cdn: CdnClient
    suggestions: Suggestions
    previews: PreviewLinks | None = None
    reader: BundleReader | None = None
    policy_scan: PolicyScan | None = None
    relays: RelayPool | None = None
    provisioning: Provisioning | None = None
    onboarding: Onboarding | None = None
    assets: BrokenAssets | None = None
    tenant_gate: TenantGate | None = None
    fake_cdn: FakeCdn | None = None
    fake_ai: FakeOrchestrator | None = None
    app: Any = None

    @property
    def loops(self) -> tuple[Any, ...]:
        """The background loops that run beside the app."""
        return self.timed_loops + self.event_loops

    @property
    def timed_loops(self) -> tuple[Any, ...]:
        """The loops that wake on a schedule (orphan sweep, purge retrier, nightly scans)."""
        loops = [self.orphans.run, self.purges.run]
        if self.policy_scan is not None:
            loops.append(self.policy_scan.run)
        if self.assets is not None:
            loops.append(self.assets.run)
        return tuple(loops)

    @property
    def event_loops(self) -> tuple[Any, ...]:
        """The outbox relays and the event consumers (they poll the bus)."""
        loops = []
        if self.relays is not None:
            loops.append(self.relays.run)
        if self.provisioning is not None:
            loops.append(self.provisioning.run)
        if self.assets is not None:
            loops.append(self.assets.consume)
        return tuple(loops)

    async def aclose(self) -> None:
        await self.cdn.aclose()
        await self.suggestions.ai.aclose()
        await self.runtime.aclose()


async def open_theme(settings: ThemeSettings, *, runtime: Runtime | None = None) -> Theme:
    settings = settings.resolved()  # type: ignore[assignment]
    if runtime is None:
        runtime = await Runtime.open(settings)
    await runtime.migrate(ensure_schema)
    # Before any work: a connection RLS would not bind is refused.
    await check_database_role(runtime, settings.app_role, bypass=settings.db_bypassrls)
    scope = TenantScope(runtime)
    if runtime.store.dialect == "postgres":  # the tenant set per transaction by the store
        runtime.store = TenantBoundStore(runtime.store, scope)
    sweep = OrphanSweep(runtime, scope, age=settings.orphan_age, every=settings.orphan_sweep_every)
    fake = None
    if settings.cdn_url:
        http = httpx.AsyncClient(base_url=settings.cdn_url, timeout=None)
    else:  # the fake CDN, reached in process through httpx's ASGI transport
        fake = FakeCdn(runtime.clock)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fake.app), base_url="http://cdn.test"
        )
    cdn = CdnClient(http)
    purges = PurgeRetrier(runtime, cdn, poll=settings.purge_poll)
    fake_ai = None
    if settings.ai_url:
        ai_http = httpx.AsyncClient(base_url=settings.ai_url, timeout=None)
    else:
        fake_ai = FakeOrchestrator()
        ai_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fake_ai.app), base_url="http://ai.test"
        )
    themes = Themes(runtime, scope)
    themes.on_purge = purges.notify
    suggestions = Suggestions(runtime, AiClient(ai_http), themes)
    theme = Theme(
        settings, runtime, themes, sweep, purges, cdn, suggestions, fake_cdn=fake, fake_ai=fake_ai
    )
    theme.previews = PreviewLinks(
        runtime,
        scope,
        per_token=settings.preview_per_token_rpm,
        per_tenant=settings.preview_per_tenant_rpm,
        block_after=settings.preview_block_after,
        block_for=settings.preview_block_for,
    )
    theme.reader = BundleReader(runtime, themes)
    theme.policy_scan = PolicyScan(runtime, every=settings.policy_scan_every)
    theme.relays = RelayPool(
        themes.events,
        max_relays=settings.max_relays,
        scale_at=settings.relay_scale_at,
        scale_after=settings.relay_scale_after,
        check_every=settings.relay_check_every,
    )
    theme.provisioning = Provisioning(runtime, scope, retry_base=settings.inbox_retry_base)
    theme.onboarding = Onboarding(runtime, theme.provisioning)
    theme.assets = BrokenAssets(runtime, scope, scan_every=settings.asset_scan_every)
    themes.assets = theme.assets
    theme.tenant_gate = TenantGate(
        runtime, dict(settings.tenants), per_tenant=settings.tenant_in_flight
    )
    theme.app = build_app(theme)
    return theme


@contextlib.asynccontextmanager
async def _serving(settings: ThemeSettings) -> AsyncIterator[Any]:
    theme = await open_theme(settings)
    try:
        async with background(*theme.loops):
            yield theme.app
    finally:
        await theme.aclose()


def serve(*, host: str = "127.0.0.1", port: int = 8000, backend: str = "embedded") -> int:
    """Run the theme service until SIGTERM (the ``mitigate.services`` entry point)."""
    settings = ThemeSettings().with_backend(backend)
    return run_service(lambda: _serving(settings), host=host, port=port)  # type: ignore[arg-type]
