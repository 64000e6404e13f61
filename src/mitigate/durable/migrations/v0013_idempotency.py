"""Idempotency keys: the database copy (fallback and durable record) of each request."""

from mitigate.durable.migrations import Migration

# state: in_flight (claimed, locked_until fences a crashed owner) or done (response kept
# until expires_at). Times are wall seconds from the Clock.
_TABLE = """CREATE TABLE mitigate_idempotency (
    idem_key     TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    state        TEXT NOT NULL,
    status       INTEGER,
    headers      {json},
    body         {blob},
    created_at   {float} NOT NULL,
    locked_until {float},
    expires_at   {float} NOT NULL
)"""

_INDEXES = ("CREATE INDEX mitigate_idempotency_expiry ON mitigate_idempotency (expires_at)",)

MIGRATION = Migration(
    version=13,
    name="idempotency",
    sqlite=(_TABLE.format(json="TEXT", blob="BLOB", float="REAL"), *_INDEXES),
    postgres=(_TABLE.format(json="JSONB", blob="BYTEA", float="DOUBLE PRECISION"), *_INDEXES),
)
