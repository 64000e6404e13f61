"""Outbox: rows written in the caller's transaction, published by the relay in key order."""

from mitigate.durable.migrations import Migration

# state: 0 pending, 1 sent, 2 moved to the DLQ (kept, never deleted unpublished).
# msg_id is the logical id consumers de-duplicate on; dedup_id (unique) is what the broker
# de-duplicates on (Nats-Msg-Id): equal to msg_id, except for a DLQ replay of the same event.
# failures counts publishes refused as poison (the row goes to the DLQ after N of them).
# Times are wall seconds (Clock.wall()); lease_until fences relays sharing the table.
_TABLE = """CREATE TABLE mitigate_outbox (
    id          {serial} PRIMARY KEY,
    msg_id      TEXT NOT NULL,
    dedup_id    TEXT NOT NULL UNIQUE,
    subject     TEXT NOT NULL,
    msg_key     TEXT,
    headers     {json},
    payload     {blob} NOT NULL,
    state       SMALLINT NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    lease_owner TEXT,
    lease_until {float},
    created_at  {float} NOT NULL,
    sent_at     {float}
)"""

_INDEXES = (
    # The relay scans pending rows in id order and checks each key's earlier pending rows.
    "CREATE INDEX mitigate_outbox_pending ON mitigate_outbox (id) WHERE state = 0",
    "CREATE INDEX mitigate_outbox_key ON mitigate_outbox (msg_key, id) WHERE state = 0",
    "CREATE INDEX mitigate_outbox_sent ON mitigate_outbox (sent_at) WHERE state = 1",
)

MIGRATION = Migration(
    version=10,
    name="outbox",
    sqlite=(
        _TABLE.format(serial="INTEGER", json="TEXT", blob="BLOB", float="REAL").replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"
        ),
        *_INDEXES,
    ),
    postgres=(
        _TABLE.format(serial="BIGSERIAL", json="JSONB", blob="BYTEA", float="DOUBLE PRECISION"),
        *_INDEXES,
    ),
)
