"""The authoring service's own tables, versioned in the ``authoring`` namespace of
``mitigate.migrate`` (SQLite and PostgreSQL alike). Saga state lives in mitigate's saga
tables, beside these."""

from __future__ import annotations

from typing import Any

import mitigate

__all__ = ["MIGRATIONS", "NAMESPACE", "ensure_schema"]

NAMESPACE = "authoring"

_V1 = (
    """CREATE TABLE IF NOT EXISTS authoring_drafts (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, title TEXT NOT NULL,
        state TEXT NOT NULL, version INTEGER NOT NULL, publish_id TEXT, error TEXT,
        updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS authoring_blocks (
        id TEXT PRIMARY KEY, draft_id TEXT NOT NULL, position INTEGER NOT NULL,
        kind TEXT NOT NULL, body TEXT NOT NULL, ai_provenance TEXT)""",
    """CREATE TABLE IF NOT EXISTS authoring_alerts (
        id TEXT PRIMARY KEY, audience TEXT NOT NULL, tenant TEXT NOT NULL,
        subject TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
        runbook TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

_V2 = (
    """CREATE TABLE IF NOT EXISTS authoring_ai_usage (
        tenant TEXT PRIMARY KEY, used INTEGER NOT NULL)""",
)

_V3 = (
    """CREATE TABLE IF NOT EXISTS authoring_imports (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
        size BIGINT NOT NULL, done BIGINT NOT NULL, total BIGINT NOT NULL,
        files INTEGER NOT NULL, peak_rss BIGINT, attempts INTEGER NOT NULL,
        at DOUBLE PRECISION NOT NULL)""",
)

# The collaborative document of a draft: snapshots (every 60 s), the event log of every
# applied update (replayed after the snapshot), the repair tool's staging copy, and the
# single-user lease of the fallback. Updates are base64 text on both backends.
_V4 = (
    """CREATE TABLE IF NOT EXISTS authoring_doc_snapshots (
        draft_id TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL, PRIMARY KEY (draft_id, version))""",
    """CREATE TABLE IF NOT EXISTS authoring_doc_events (
        draft_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,
        update_b64 TEXT NOT NULL, op TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (draft_id, seq))""",
    """CREATE TABLE IF NOT EXISTS authoring_doc_staging (
        draft_id TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL,
        ok INTEGER NOT NULL, detail TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS authoring_doc_leases (
        draft_id TEXT PRIMARY KEY, holder TEXT NOT NULL, until DOUBLE PRECISION NOT NULL)""",
)

MIGRATIONS: tuple[mitigate.Migration, ...] = (
    mitigate.Migration(1, "authoring tables", sqlite=_V1, postgres=_V1),
    mitigate.Migration(2, "AI budget usage", sqlite=_V2, postgres=_V2),
    mitigate.Migration(3, "SCORM imports", sqlite=_V3, postgres=_V3),
    mitigate.Migration(4, "collaborative documents", sqlite=_V4, postgres=_V4),
)


async def ensure_schema(store: Any) -> int:
    """Apply the authoring service's pending migrations; return its schema version."""
    return await mitigate.migrate(store, MIGRATIONS, namespace=NAMESPACE)
