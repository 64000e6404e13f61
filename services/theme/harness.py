"""The theme service opened for one experiment run.

An experiment drives the service as an editor would, through its HTTP API (an in-process
httpx client on the run's clock), on the run's policies, switches and observers.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import mitigate
from services.kit.runtime import AllOn, Runtime
from services.kit.serve import background

from .service import Theme, open_theme
from .settings import ThemeSettings

__all__ = ["TENANT", "World", "alerts", "open_world", "sample_document"]

TENANT = "acme"


@dataclass
class World:
    run: Any
    theme: Theme
    http: httpx.AsyncClient
    root: Path
    events: Any = None  # the running event loops (relays, consumers), when started

    async def stop_events(self) -> None:
        """Stop the relays and consumers (a long quiet wait needs no bus polling)."""
        if self.events is not None:
            events, self.events = self.events, None
            await events.__aexit__(None, None, None)

    async def fetch(self, tenant: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of the service's database read around the API as ``tenant`` (on
        PostgreSQL row-level security shows a tenant's rows only to that tenant)."""
        async with self.theme.themes.scope.as_tenant(tenant):
            return list(await self.theme.runtime.store.fetch(sql, params))

    async def execute(self, tenant: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write around the API as ``tenant``; the rows it changed."""
        async with self.theme.themes.scope.as_tenant(tenant):
            return int(await self.theme.runtime.store.execute(sql, params))

    async def row(self, theme_id: str, tenant: str = TENANT) -> tuple[Any, ...] | None:
        """The stored row of a theme, read around the API (what the database holds)."""
        rows = await self.fetch(
            tenant,
            "SELECT revision, state, document FROM theme_themes WHERE tenant = ? AND id = ?",
            (tenant, theme_id),
        )
        return tuple(rows[0]) if rows else None

    async def publications(self, theme_id: str, tenant: str = TENANT) -> list[tuple[Any, ...]]:
        rows = await self.fetch(
            tenant,
            "SELECT revision, active FROM theme_publications WHERE tenant = ? AND theme_id = ?",
            (tenant, theme_id),
        )
        return [tuple(r) for r in rows]


def sample_document(**changes: Any) -> dict[str, Any]:
    """A publishable theme: two locales, a call to action in French, one block."""
    doc: dict[str, Any] = {
        "name": "Harbour",
        "colors": {"primary": "#0a3d62", "background": "#ffffff", "text": "#1e272e"},
        "locales": ["en", "fr"],
        "defaultLocale": "en",
        "copy": {"en": {"book": "Book now"}, "fr": {"book": "Réserver"}},
        "ctas": [{"id": "hero-cta", "locale": "fr", "key": "book"}],
        "blocks": [{"id": "intro", "html": "<p>Welcome <strong>aboard</strong></p>"}],
    }
    doc.update(changes)
    return doc


def settings_for(run: Any, root: Path) -> ThemeSettings:
    settings = ThemeSettings(
        data_dir=root, store=f"sqlite:///{root / 'theme.db'}?durability=normal"
    )
    backend = getattr(run, "backend", "embedded") or "embedded"
    if backend != "embedded":
        unique = f"x{uuid.uuid4().hex[:10]}"
        settings = settings.with_backend(backend).model_copy(  # type: ignore[assignment]
            update={
                "schema_name": f"theme_{unique}",
                "stream": f"THEME_{unique.upper()}",
                "subject_prefix": f"{unique}.",
            }
        )
    return settings


async def open_world(run: Any, *, workers: bool = False, events: bool = False) -> World:
    """The theme service for this run and an editor's client of tenant acme; with
    ``workers`` its timed loops (orphan sweep, purge retrier, nightly scans) run beside
    it, with ``events`` its relays and consumers, all on the run's clock."""
    root = Path(tempfile.mkdtemp(prefix="theme-run-"))
    settings = settings_for(run, root)
    catalog = getattr(run, "catalog", None)
    runtime = await Runtime.open(
        settings,
        clock=run.clock,
        policy=run.policy,
        switches=getattr(run, "switches", None) or AllOn(),
        observers=[*run.observers, *([catalog.detector] if catalog is not None else [])],
        injector=run.injector,
    )
    theme = await open_theme(settings, runtime=runtime)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=theme.app),
        base_url="http://theme.test",
        headers={"x-tenant-id": TENANT},
    )
    world = World(run, theme, http, root)
    loops = background(*theme.timed_loops) if workers else None
    if loops is not None:
        await loops.__aenter__()
    if events:
        world.events = background(*theme.event_loops)
        await world.events.__aenter__()

    async def close() -> None:
        await world.stop_events()
        if loops is not None:
            await loops.__aexit__(None, None, None)
        await http.aclose()
        if (getattr(run, "backend", "embedded") or "embedded") != "embedded":
            if settings.store.startswith("postgres"):  # as the owner: the app owns nothing
                owner = await mitigate.open_store(
                    settings.in_schema(settings.store_owner or settings.store), migrate=False
                )
                try:
                    await owner.drop_schema()
                finally:
                    await owner.aclose()
            delete = getattr(runtime.bus, "delete_stream", None)
            if delete is not None:
                await delete()
        await theme.aclose()
        shutil.rmtree(root, ignore_errors=True)

    run.rollback(close)
    return world


def alerts(run: Any, rule: str) -> list[Any]:
    """The ``alert.raised`` events of one detection rule in this run."""
    return [e for e in run.recorder.named("alert.raised") if getattr(e, "rule", "") == rule]
