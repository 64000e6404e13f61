"""Sagas: one row per saga run, leased to one worker at a time."""

from mitigate.durable.migrations import Migration

# Times are wall-clock seconds (Clock.wall()) so that every worker process reads them alike.
# `steps` is a JSON list with one record per step: result, lease epoch that recorded it,
# start/finish times, attempts, compensation outcome. `epoch` fences writers: it grows on
# every claim, and a write only lands when the writer's epoch is still the current one.
_COLUMNS = """
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    step            INTEGER NOT NULL,
    input           {json} NOT NULL,
    steps           {json} NOT NULL,
    error           TEXT,
    epoch           BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     {float},
    run_after       {float} NOT NULL,
    created_at      {float} NOT NULL,
    updated_at      {float} NOT NULL,
    step_started_at {float} NOT NULL,
    deadline_at     {float},
    alerted         TEXT
"""

_INDEXES = (
    # Claims look only at sagas that still have work to do.
    "CREATE INDEX mitigate_sagas_ready ON mitigate_sagas (run_after)"
    " WHERE state IN ('running', 'compensating')",
    "CREATE INDEX mitigate_sagas_state ON mitigate_sagas (state, updated_at)",
    "CREATE INDEX mitigate_sagas_owner ON mitigate_sagas (lease_owner)"
    " WHERE state IN ('running', 'compensating')",
)

MIGRATION = Migration(
    version=1,
    name="sagas",
    sqlite=(
        "CREATE TABLE mitigate_sagas ("
        + _COLUMNS.format(json="TEXT", float="REAL").replace("BIGINT", "INTEGER")
        + ")",
        *_INDEXES,
    ),
    postgres=(
        "CREATE TABLE mitigate_sagas ("
        + _COLUMNS.format(json="JSONB", float="DOUBLE PRECISION")
        + ")",
        *_INDEXES,
    ),
)
