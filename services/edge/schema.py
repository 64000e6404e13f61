"""The edge service's own tables (SQLite and PostgreSQL alike): versioned migrations in the
``edge`` namespace, applied at start by ``mitigate.migrate``."""

from __future__ import annotations

from typing import Any

import mitigate

__all__ = ["MIGRATIONS", "NAMESPACE", "ensure_schema"]

NAMESPACE = "edge"

_V1 = (
    # The tenant registry: what the validated config files load into.
    """CREATE TABLE IF NOT EXISTS edge_tenants (
        id TEXT PRIMARY KEY, plan TEXT NOT NULL, hosts TEXT NOT NULL,
        api_key_hashes TEXT NOT NULL, config TEXT NOT NULL)""",
    # Feature flags: the source of truth behind the KV cache.
    """CREATE TABLE IF NOT EXISTS edge_flags (
        tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (tenant, name))""",
    # Per-key actors (the Durable Object role): one row of state per actor id.
    """CREATE TABLE IF NOT EXISTS edge_actor_state (
        actor TEXT PRIMARY KEY, state TEXT NOT NULL, version BIGINT NOT NULL)""",
    # Chat session messages held by the session actor (archived ones leave this table).
    """CREATE TABLE IF NOT EXISTS edge_chat_messages (
        session TEXT NOT NULL, seq BIGINT NOT NULL, tenant TEXT NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (session, seq))""",
    """CREATE TABLE IF NOT EXISTS edge_chat_archives (
        session TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL,
        object_key TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (session, first_seq))""",
)

_V2 = (
    # Per-tenant AI requests per day (the gateway's budget meter).
    """CREATE TABLE IF NOT EXISTS edge_ai_usage (
        tenant TEXT NOT NULL, day BIGINT NOT NULL, used BIGINT NOT NULL,
        PRIMARY KEY (tenant, day))""",
)

_V3 = (
    # The vector index (the Vectorize role): one row per document and its embedding.
    """CREATE TABLE IF NOT EXISTS edge_vectors (
        tenant TEXT NOT NULL, doc_id TEXT NOT NULL, body TEXT NOT NULL,
        embedding TEXT NOT NULL, PRIMARY KEY (tenant, doc_id))""",
)

MIGRATIONS: tuple[mitigate.Migration, ...] = (
    mitigate.Migration(1, "edge tables", sqlite=_V1, postgres=_V1),
    mitigate.Migration(2, "AI usage per tenant", sqlite=_V2, postgres=_V2),
    mitigate.Migration(3, "vector index", sqlite=_V3, postgres=_V3),
)


async def ensure_schema(store: Any) -> int:
    """Apply the edge service's pending migrations; return its schema version."""
    return await mitigate.migrate(store, MIGRATIONS, namespace=NAMESPACE)
