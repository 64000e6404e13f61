"""The content service's own tables (SQLite and PostgreSQL alike), beside mitigate's."""

from __future__ import annotations

from typing import Any

__all__ = ["ensure_schema"]

TABLES = (
    """CREATE TABLE IF NOT EXISTS content_drafts (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, state TEXT NOT NULL,
        manifest TEXT NOT NULL, publish_id TEXT, package_id TEXT, error TEXT,
        updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS content_packages (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, draft_id TEXT NOT NULL,
        state TEXT NOT NULL, size BIGINT NOT NULL, content_sha256 TEXT NOT NULL,
        index_sha256 TEXT NOT NULL, kid TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS content_alerts (
        id TEXT PRIMARY KEY, audience TEXT NOT NULL, tenant TEXT NOT NULL,
        subject TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
        runbook TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS content_imports (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, state TEXT NOT NULL,
        reason TEXT, quarantine_id TEXT, sha256 TEXT, files INTEGER NOT NULL,
        at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS content_importer_blocks (
        tenant TEXT PRIMARY KEY, reason TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS content_builds (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, draft_id TEXT NOT NULL,
        state TEXT NOT NULL, reason TEXT, peak_rss BIGINT, at DOUBLE PRECISION NOT NULL)""",
)


async def ensure_schema(store: Any) -> None:
    async with store.transaction() as tx:
        for sql in TABLES:
            await tx.execute(sql)
