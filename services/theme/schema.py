"""The theme service's own tables (SQLite and PostgreSQL alike): versioned migrations in
the ``theme`` namespace, applied at start by ``mitigate.migrate``."""

from __future__ import annotations

from typing import Any

import mitigate

from .tenancy import rls_statements

__all__ = ["MIGRATIONS", "NAMESPACE", "ensure_schema"]

NAMESPACE = "theme"

_V1 = (
    # One row per theme: its working version (the document the editors save, with the
    # revision that optimistic concurrency compares) and its state.
    """CREATE TABLE IF NOT EXISTS theme_themes (
        tenant TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL,
        state TEXT NOT NULL, document TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant, id))""",
    # Published bundles; the active one per theme is the one the readers serve.
    """CREATE TABLE IF NOT EXISTS theme_publications (
        tenant TEXT NOT NULL, theme_id TEXT NOT NULL, revision INTEGER NOT NULL,
        object_key TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
        active INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant, theme_id, revision))""",
)

# One active publication per theme: of two racing flips the database refuses the second
# (theme.fm.2.5). Partial unique indexes exist in SQLite and PostgreSQL alike.
_V2 = (
    """CREATE UNIQUE INDEX IF NOT EXISTS theme_publications_active_uq
        ON theme_publications (tenant, theme_id) WHERE active = 1""",
)

# Bundle objects seen without a publication, and since when (the orphan sweep).
_V3 = (
    """CREATE TABLE IF NOT EXISTS theme_orphans (
        key TEXT PRIMARY KEY, first_seen DOUBLE PRECISION NOT NULL)""",
)

# CDN purges owed after a publish: a durable queue the invalidation retrier works through.
_V4 = (
    """CREATE TABLE IF NOT EXISTS theme_purges (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, tag TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL,
        error TEXT)""",
)

# The front-end platform's layout presets (its registry, mirrored here): a publish may
# only select active ones (theme.fm.2.19).
_V5 = (
    """CREATE TABLE IF NOT EXISTS theme_layout_presets (
        key TEXT PRIMARY KEY, active INTEGER NOT NULL)""",
    """INSERT INTO theme_layout_presets (key, active) VALUES ('hero-split', 1), ('grid', 1),
        ('compact', 1) ON CONFLICT (key) DO NOTHING""",
)

# AI suggestions: stored for a human to apply, never applied by themselves.
_V6 = (
    """CREATE TABLE IF NOT EXISTS theme_suggestions (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, theme_id TEXT NOT NULL, body TEXT NOT NULL,
        state TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

# Preview links: only the token's SHA-256 is kept.
_V7 = (
    """CREATE TABLE IF NOT EXISTS theme_preview_tokens (
        hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, theme_id TEXT NOT NULL,
        revoked INTEGER NOT NULL)""",
)

# Tenant events (theme.fm.2.9, 2.21): every default-theme provisioning (a second one for
# a tenant would be a duplicate effect), the tenants' formatting settings, and the
# onboarding saga's record of each step (the brand step may be degraded).
_V8 = (
    """CREATE TABLE IF NOT EXISTS theme_provisioning_log (
        tenant TEXT NOT NULL, source TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS theme_tenant_config (
        tenant TEXT PRIMARY KEY, config TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS theme_onboarding (
        tenant TEXT NOT NULL, step TEXT NOT NULL, state TEXT NOT NULL, detail TEXT,
        PRIMARY KEY (tenant, step))""",
)

# Asset references found broken (theme.fm.2.14): one row per flag, shown as banners.
_V9 = (
    """CREATE TABLE IF NOT EXISTS theme_broken_assets (
        tenant TEXT NOT NULL, theme_id TEXT NOT NULL, block_id TEXT NOT NULL,
        asset_id TEXT NOT NULL, source TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

# FORCED row-level security on the tenant tables (theme.fm.2.10; tenancy.py). SQLite has
# none: the app layer applies the same rules there.
_V10_POSTGRES = tuple(rls_statements())

MIGRATIONS: tuple[mitigate.Migration, ...] = (
    mitigate.Migration(1, "theme tables", sqlite=_V1, postgres=_V1),
    mitigate.Migration(2, "one active publication per theme", sqlite=_V2, postgres=_V2),
    mitigate.Migration(3, "orphan sweep candidates", sqlite=_V3, postgres=_V3),
    mitigate.Migration(4, "CDN purge queue", sqlite=_V4, postgres=_V4),
    mitigate.Migration(5, "layout preset registry", sqlite=_V5, postgres=_V5),
    mitigate.Migration(6, "AI suggestions", sqlite=_V6, postgres=_V6),
    mitigate.Migration(7, "preview links", sqlite=_V7, postgres=_V7),
    mitigate.Migration(8, "tenant events and onboarding", sqlite=_V8, postgres=_V8),
    mitigate.Migration(9, "broken asset flags", sqlite=_V9, postgres=_V9),
    mitigate.Migration(
        10, "tenant row-level security", sqlite=("SELECT 1",), postgres=_V10_POSTGRES
    ),
)


async def ensure_schema(store: Any) -> int:
    """Apply the theme service's pending migrations; return its schema version."""
    return await mitigate.migrate(store, MIGRATIONS, namespace=NAMESPACE)
