"""The theme service's settings (environment prefix ``THEME_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["ThemeSettings"]

HERE = Path(__file__).parent


class ThemeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="THEME_", extra="ignore")

    name: str = "theme"
    catalog: str = str(HERE / "catalog.yaml")
    # Tenants and their tier (the tier labels the per-tenant metrics of the seed).
    tenants: dict[str, str] = Field(
        default_factory=lambda: {"acme": "standard", "globex": "free", "initech": "enterprise"}
    )
    # Catalog values (theme.fm.2.4 details; the seed names no orphan age).
    orphan_age: float = 3600.0
    orphan_sweep_every: float = 900.0
    # The CDN's purge API; empty: the fake CDN runs in this process (embedded).
    cdn_url: str = ""
    ops_token: str = "local-operator"  # operator endpoints (/ops/...) need it in x-ops-token
    # The invalidation retrier sleeps until the next retry is due, and is woken by each
    # publish; with nothing due it looks again after this long (another worker's purges).
    purge_poll: float = 60.0
    # Cache headers of a published bundle (theme.fm.2.6; stale-while-revalidate: catalog).
    cache_control: str = "public, max-age=300, s-maxage=86400, stale-while-revalidate=60"
    # The AI orchestrator; empty: the fake orchestrator runs in this process (embedded).
    ai_url: str = ""
    # Preview links (theme.fm.2.13; the block duration is a catalog value).
    preview_per_token_rpm: int = 60
    preview_per_tenant_rpm: int = 600
    preview_block_after: int = 100
    preview_block_for: float = 900.0
    policy_scan_every: float = 86400.0  # the nightly storage policy check
    # Outbox publishers (theme.fm.2.8): scale out while > 1 000 rows wait for 10 min.
    max_relays: int = 3
    relay_scale_at: int = 1000
    relay_scale_after: float = 600.0
    relay_check_every: float = 15.0  # how often the pool reads the backlog
    # The tenant-event inbox (theme.fm.2.9): 5 retries, waits doubling from this base.
    inbox_retry_base: float = 2.0
    asset_scan_every: float = 86400.0  # the daily origin scan for broken assets
    # The database role the app connects as (theme.fm.2.10): never the tables' owner,
    # never BYPASSRLS; the start-up check refuses otherwise. On PostgreSQL the database is
    # asked; on the embedded store, ``db_bypassrls`` stands for the role's flag.
    app_role: str = "theme_app"
    db_bypassrls: bool = False
    tenant_in_flight: int = 4  # authoring calls in flight per tenant (principle 4)
    # Events of other services the theme consumes (on NATS its stream carries them too).
    consumed: list[str] = Field(default_factory=lambda: ["tenant.>", "media.>"])
