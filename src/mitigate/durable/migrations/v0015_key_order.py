"""Order per key across redeliveries: the relay finds each row's predecessor among the
sent rows of its key; each consumer keeps the last sequence it applied per key."""

from mitigate.durable.migrations import Migration

_TABLE = """CREATE TABLE mitigate_inbox_keys (
    consumer TEXT NOT NULL,
    msg_key  TEXT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (consumer, msg_key)
)"""

_INDEXES = (
    "CREATE INDEX mitigate_outbox_key_sent ON mitigate_outbox (msg_key, id) WHERE state = 1",
)

MIGRATION = Migration(
    version=15,
    name="key_order",
    sqlite=(_TABLE, *_INDEXES),
    postgres=(_TABLE, *_INDEXES),
)
