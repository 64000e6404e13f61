"""The embedded bus: a durable log per stream, durable consumers with per-message state."""

from mitigate.durable.migrations import Migration

# Messages are unique per (stream, dedup_id): a re-sent publish is stored once (as NATS
# does with Nats-Msg-Id). A consumer copies new matching messages past its cursor into
# mitigate_bus_pending; state: 0 waiting, 1 acked, 2 terminated (after the DLQ took it).
_MESSAGES = """CREATE TABLE mitigate_bus_messages (
    seq          {serial} PRIMARY KEY,
    stream       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    msg_id       TEXT NOT NULL,
    dedup_id     TEXT NOT NULL,
    msg_key      TEXT,
    headers      {json},
    payload      {blob} NOT NULL,
    published_at {float} NOT NULL,
    UNIQUE (stream, dedup_id)
)"""

_CONSUMERS = """CREATE TABLE mitigate_bus_consumers (
    stream   TEXT NOT NULL,
    name     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    cursor   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, name)
)"""

_PENDING = """CREATE TABLE mitigate_bus_pending (
    stream       TEXT NOT NULL,
    consumer     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    msg_key      TEXT,
    delivered    INTEGER NOT NULL DEFAULT 0,
    available_at {float} NOT NULL,
    state        SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, consumer, seq)
)"""

_INDEXES = (
    "CREATE INDEX mitigate_bus_messages_stream ON mitigate_bus_messages (stream, seq)",
    "CREATE INDEX mitigate_bus_pending_ready ON mitigate_bus_pending"
    " (stream, consumer, available_at) WHERE state = 0",
    "CREATE INDEX mitigate_bus_pending_key ON mitigate_bus_pending"
    " (stream, consumer, msg_key, seq) WHERE state = 0",
)

MIGRATION = Migration(
    version=14,
    name="bus",
    sqlite=(
        _MESSAGES.format(serial="INTEGER", json="TEXT", blob="BLOB", float="REAL").replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"
        ),
        _CONSUMERS.replace("BIGINT", "INTEGER"),
        _PENDING.format(float="REAL").replace("BIGINT", "INTEGER"),
        *_INDEXES,
    ),
    postgres=(
        _MESSAGES.format(serial="BIGSERIAL", json="JSONB", blob="BYTEA", float="DOUBLE PRECISION"),
        _CONSUMERS,
        _PENDING.format(float="DOUBLE PRECISION"),
        *_INDEXES,
    ),
)
