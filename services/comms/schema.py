"""The comms service's own tables (SQLite and PostgreSQL alike): versioned migrations in
the ``comms`` namespace, applied at start by ``mitigate.migrate``."""

from __future__ import annotations

from typing import Any

import mitigate

__all__ = ["MIGRATIONS", "NAMESPACE", "ensure_schema"]

NAMESPACE = "comms"

_V1 = (
    # One message to one recipient. state: queued, sent, held (template missing), blocked
    # (pre-send assertion tripped), halted (category halted), failed.
    """CREATE TABLE IF NOT EXISTS comms_dispatches (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, category TEXT NOT NULL,
        channel TEXT NOT NULL, template TEXT NOT NULL, recipient TEXT NOT NULL,
        vars TEXT NOT NULL, state TEXT NOT NULL, provider TEXT, provider_id TEXT,
        reason TEXT, tries INTEGER NOT NULL DEFAULT 0,
        due_at DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS comms_dispatches_state ON comms_dispatches (state, due_at)""",
    # Notices for internal operations (never shown to patients).
    """CREATE TABLE IF NOT EXISTS comms_notices (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, code TEXT NOT NULL,
        subject TEXT NOT NULL, message TEXT NOT NULL, runbook TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL)""",
    # Categories halted on a channel (kill switch), until an operator resumes them.
    """CREATE TABLE IF NOT EXISTS comms_halts (
        channel TEXT NOT NULL, category TEXT NOT NULL, reason TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL, PRIMARY KEY (channel, category))""",
)

_V2 = (
    # Delivery receipts from the providers' callbacks: each (provider, receipt id) once.
    """CREATE TABLE IF NOT EXISTS comms_receipts (
        provider TEXT NOT NULL, receipt_id TEXT NOT NULL, reference TEXT NOT NULL,
        status TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (provider, receipt_id))""",
    # Every receipt applied to a dispatch, in the order applied (the delivery log).
    """CREATE TABLE IF NOT EXISTS comms_receipt_log (
        provider TEXT NOT NULL, receipt_id TEXT NOT NULL, reference TEXT NOT NULL,
        status TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

_V3 = (
    # Email outcomes per tenant and category (the bounce ratio is read from them).
    """CREATE TABLE IF NOT EXISTS comms_email_outcomes (
        tenant TEXT NOT NULL, category TEXT NOT NULL, outcome TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS comms_email_outcomes_at
        ON comms_email_outcomes (tenant, category, at)""",
    # A tenant's email category: open, throttled or disabled (since: bounces before it
    # no longer count, set when an operator enables the category again).
    """CREATE TABLE IF NOT EXISTS comms_email_controls (
        tenant TEXT NOT NULL, category TEXT NOT NULL, state TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL, at DOUBLE PRECISION NOT NULL,
        last_send DOUBLE PRECISION, PRIMARY KEY (tenant, category))""",
)

_V4 = (
    # Virtual sessions (video rooms) and the message threads a failed one falls back to.
    """CREATE TABLE IF NOT EXISTS comms_sessions (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, patient TEXT NOT NULL,
        state TEXT NOT NULL, pool TEXT, room TEXT, reason TEXT, thread_id TEXT,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS comms_threads (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, patient TEXT NOT NULL,
        day INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS comms_threads_patient ON comms_threads (tenant, patient, day)""",
    """CREATE TABLE IF NOT EXISTS comms_thread_messages (
        thread_id TEXT NOT NULL, body TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

_V5 = (
    # Every join to a video session, with the kid that signed its token (forensics).
    """CREATE TABLE IF NOT EXISTS comms_joins (
        id TEXT PRIMARY KEY, session_id TEXT NOT NULL, participant TEXT NOT NULL,
        kid TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

_V6 = (
    # Recording ingest jobs: pending, ingested, or dead (parked with the source kept).
    """CREATE TABLE IF NOT EXISTS comms_recordings (
        session_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, pool TEXT NOT NULL,
        room TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        reason TEXT, object_key TEXT, at DOUBLE PRECISION NOT NULL)""",
)

# Read receipts in commit order: the sequence, not a host's clock, orders them.
_V7_SQLITE = (
    """CREATE TABLE IF NOT EXISTS comms_read_receipts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, thread_id TEXT NOT NULL,
        participant TEXT NOT NULL, worker TEXT NOT NULL, stamped_at DOUBLE PRECISION NOT NULL)""",
)
_V7_POSTGRES = (
    """CREATE TABLE IF NOT EXISTS comms_read_receipts (
        seq BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, thread_id TEXT NOT NULL,
        participant TEXT NOT NULL, worker TEXT NOT NULL, stamped_at DOUBLE PRECISION NOT NULL)""",
)

_V8 = (
    # Erasures requested (identifiers of the subject); the reconciliation job rescans them.
    """CREATE TABLE IF NOT EXISTS comms_erasures (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, identifiers TEXT NOT NULL,
        replays INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

_V9 = (
    # One scheduled session per (tenant, appointment): a redelivered event cannot add one.
    """CREATE TABLE IF NOT EXISTS comms_appointments (
        tenant TEXT NOT NULL, appointment_id TEXT NOT NULL, patient TEXT NOT NULL,
        session_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant, appointment_id))""",
)

_V10 = (
    # SLI samples of the error-budget policy (comms.budget.1), one batch per row.
    """CREATE TABLE IF NOT EXISTS comms_sli (
        slo TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, good INTEGER NOT NULL,
        bad INTEGER NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS comms_sli_at ON comms_sli (slo, at)""",
    # Service-wide flags (the adapter freeze while the error budget burns).
    """CREATE TABLE IF NOT EXISTS comms_flags (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
)

# Users of each tenant and thread participants (comms.fm.12). Under the application's
# check, the database refuses a participant whose user or thread is of another tenant.
_V11_TABLES = (
    """CREATE TABLE IF NOT EXISTS comms_users (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS comms_thread_participants (
        tenant TEXT NOT NULL, thread_id TEXT NOT NULL, user_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL, PRIMARY KEY (thread_id, user_id))""",
)
_V11_SQLITE = (
    *_V11_TABLES,
    """CREATE TRIGGER IF NOT EXISTS comms_participants_same_tenant
        BEFORE INSERT ON comms_thread_participants
        WHEN NOT EXISTS (SELECT 1 FROM comms_users u
                         WHERE u.id = NEW.user_id AND u.tenant = NEW.tenant)
          OR NOT EXISTS (SELECT 1 FROM comms_threads t
                         WHERE t.id = NEW.thread_id AND t.tenant = NEW.tenant)
        BEGIN SELECT RAISE(ABORT, 'COMMS_CROSS_TENANT: participant of another tenant'); END""",
)
_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')"
# FORCEd, so the table's owner is held to it too (a superuser still bypasses RLS: the
# service connects as a role that is neither, see mitigate.guard.rls).
_V11_POSTGRES = (
    *_V11_TABLES,
    "ALTER TABLE comms_thread_participants ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE comms_thread_participants FORCE ROW LEVEL SECURITY",
    f"""CREATE POLICY comms_participants_tenant ON comms_thread_participants
        USING (tenant = {_TENANT})
        WITH CHECK (tenant = {_TENANT}
            AND EXISTS (SELECT 1 FROM comms_users u
                        WHERE u.id = user_id AND u.tenant = comms_thread_participants.tenant)
            AND EXISTS (SELECT 1 FROM comms_threads t
                        WHERE t.id = thread_id AND t.tenant = comms_thread_participants.tenant))""",
)

_V12 = (
    # Attachments and their scan (comms.fm.8): pending, clean or infected; only a clean
    # one is downloadable.
    """CREATE TABLE IF NOT EXISTS comms_attachments (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, object_key TEXT NOT NULL,
        state TEXT NOT NULL, signature TEXT, at DOUBLE PRECISION NOT NULL,
        scanned_at DOUBLE PRECISION)""",
)

MIGRATIONS: tuple[mitigate.Migration, ...] = (
    mitigate.Migration(1, "comms tables", sqlite=_V1, postgres=_V1),
    mitigate.Migration(2, "delivery receipts", sqlite=_V2, postgres=_V2),
    mitigate.Migration(3, "email bounce tracking", sqlite=_V3, postgres=_V3),
    mitigate.Migration(4, "virtual sessions and fallback threads", sqlite=_V4, postgres=_V4),
    mitigate.Migration(5, "video joins", sqlite=_V5, postgres=_V5),
    mitigate.Migration(6, "recording ingest", sqlite=_V6, postgres=_V6),
    mitigate.Migration(7, "read receipts", sqlite=_V7_SQLITE, postgres=_V7_POSTGRES),
    mitigate.Migration(8, "erasures", sqlite=_V8, postgres=_V8),
    mitigate.Migration(9, "scheduled appointments", sqlite=_V9, postgres=_V9),
    mitigate.Migration(10, "error budget", sqlite=_V10, postgres=_V10),
    mitigate.Migration(11, "thread participants", sqlite=_V11_SQLITE, postgres=_V11_POSTGRES),
    mitigate.Migration(12, "attachment scans", sqlite=_V12, postgres=_V12),
)


async def ensure_schema(store: Any) -> int:
    """Apply the comms service's pending migrations; return its schema version."""
    return await mitigate.migrate(store, MIGRATIONS, namespace=NAMESPACE)
