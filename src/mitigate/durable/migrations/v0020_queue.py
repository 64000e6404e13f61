"""Work queue: durable jobs with leases, retries, parking and a dead state (mitigate.WorkQueue)."""

from mitigate.durable.migrations import Migration

# state: queued (waits for run_at), leased (a worker holds it until lease_until), done,
# parked (set aside for review), dead (failed max_attempts times or permanently).
# Times are wall-clock seconds (clock.wall()): leases are compared across processes.
# seq orders jobs enqueued at the same instant (first in, first out).
_TABLE = """CREATE TABLE mitigate_queue (
    seq         {serial} PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    queue       TEXT NOT NULL,
    job_key     TEXT,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_at      {float} NOT NULL,
    leased_by   TEXT,
    lease_until {float},
    last_error  TEXT,
    park_reason TEXT,
    created_at  {float} NOT NULL,
    updated_at  {float} NOT NULL,
    finished_at {float}
)"""

_INDEXES = (
    # Same key, same job: NULL keys never collide (both databases treat NULLs as distinct).
    "CREATE UNIQUE INDEX mitigate_queue_key ON mitigate_queue (queue, job_key)",
    "CREATE INDEX mitigate_queue_due ON mitigate_queue (queue, state, run_at)",
    "CREATE INDEX mitigate_queue_lease ON mitigate_queue (queue, state, lease_until)",
)

MIGRATION = Migration(
    version=20,
    name="queue",
    sqlite=(
        _TABLE.format(serial="INTEGER", float="REAL").replace(
            "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"
        ),
        *_INDEXES,
    ),
    postgres=(_TABLE.format(serial="BIGSERIAL", float="DOUBLE PRECISION"), *_INDEXES),
)
