"""Dead-letter queue: poisoned messages with reason, attempts and payload, for replay."""

from mitigate.durable.migrations import Migration

# source: "outbox" (the relay gave up on a row) or the consumer's name.
# state: dead (waiting for a fix), replayed (sent again through the outbox).
_TABLE = """CREATE TABLE mitigate_dlq (
    id          {serial} PRIMARY KEY,
    source      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    msg_key     TEXT,
    headers     {json},
    payload     {blob} NOT NULL,
    reason      TEXT NOT NULL,
    error_type  TEXT,
    attempts    INTEGER NOT NULL,
    dead_at     {float} NOT NULL,
    state       TEXT NOT NULL DEFAULT 'dead',
    replays     INTEGER NOT NULL DEFAULT 0,
    replayed_at {float}
)"""

_INDEXES = (
    "CREATE INDEX mitigate_dlq_state ON mitigate_dlq (state, id)",
    "CREATE INDEX mitigate_dlq_source ON mitigate_dlq (source, state, id)",
)

MIGRATION = Migration(
    version=12,
    name="dlq",
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
