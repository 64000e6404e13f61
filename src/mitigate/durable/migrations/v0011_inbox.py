"""Inbox: what each consumer has handled, by message id and by business key."""

from mitigate.durable.migrations import Migration

# One row per handled message, written in the handler's own transaction. A business key
# (e.g. "tenant-1/appointment-42") is unique per consumer, so a re-sent event with a new
# message id is still recognised. `duplicates` counts deliveries recognised as repeats.
_TABLE = """CREATE TABLE mitigate_inbox (
    consumer     TEXT NOT NULL,
    msg_id       TEXT NOT NULL,
    business_key TEXT,
    subject      TEXT,
    handled_at   {float} NOT NULL,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, msg_id)
)"""

_INDEXES = (
    "CREATE UNIQUE INDEX mitigate_inbox_business ON mitigate_inbox (consumer, business_key)"
    " WHERE business_key IS NOT NULL",
    "CREATE INDEX mitigate_inbox_handled ON mitigate_inbox (handled_at)",
)

MIGRATION = Migration(
    version=11,
    name="inbox",
    sqlite=(_TABLE.format(float="REAL"), *_INDEXES),
    postgres=(_TABLE.format(float="DOUBLE PRECISION"), *_INDEXES),
)
