"""The durable layer's errors, each with its code on the class.

Driver errors (``sqlite3.Error``, ``psycopg.Error``) never leave a store raw: they become
a :class:`~mitigate.StoreError` whose code says what to do next.

>>> NotJsonError("t.saga", "input holds a NUL character").code
'MITIGATE.STORE.NOT_JSON'

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import ClassVar

from mitigate.errors import ConfigError, StoreError

__all__ = [
    "IdempotencyConfigError",
    "InboxConfigError",
    "MigrationConfigError",
    "NotJsonError",
    "OutboxConfigError",
    "SagaConfigError",
    "SagaDefinitionChangedError",
    "SagaParkedError",
    "StoreCancelledError",
    "StoreConfigError",
    "StoreConflictError",
    "StoreDataError",
    "StoreMigrationError",
    "StoreNotFoundError",
    "StoreOpenError",
    "StoreUnavailableError",
    "store_error",
]


class StoreDataError(StoreError):
    """The database refused a row (constraint, encoding, type): retrying will not help."""

    code: ClassVar[str] = "MITIGATE.STORE.DATA"
    default_hint: ClassVar[str] = "fix the value written; nothing of this write was stored"


class NotJsonError(StoreDataError):
    """A value the store cannot hold as JSON (not JSON, NUL, lone surrogate, too deep)."""

    code: ClassVar[str] = "MITIGATE.STORE.NOT_JSON"
    default_hint: ClassVar[str] = (
        "store str, int, float, bool, None, list and dict values only (no NUL characters, "
        "no lone surrogates, no deep nesting)"
    )


class StoreUnavailableError(StoreError):
    """The database could not be reached or stayed locked: a retry may succeed."""

    code: ClassVar[str] = "MITIGATE.STORE.UNAVAILABLE"
    default_hint: ClassVar[str] = "check the database is up and not held by a long transaction"


class StoreOpenError(StoreError):
    code: ClassVar[str] = "MITIGATE.STORE.OPEN"


class StoreCancelledError(StoreError):
    code: ClassVar[str] = "MITIGATE.STORE.CANCELLED"


class StoreNotFoundError(StoreError):
    code: ClassVar[str] = "MITIGATE.STORE.NOT_FOUND"


class StoreConflictError(StoreError):
    code: ClassVar[str] = "MITIGATE.STORE.CONFLICT"


class StoreMigrationError(StoreError):
    code: ClassVar[str] = "MITIGATE.STORE.MIGRATION"


class SagaConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.SAGA"


class StoreConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.STORE"


class MigrationConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.MIGRATION"


class OutboxConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.OUTBOX"


class InboxConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.INBOX"


class IdempotencyConfigError(ConfigError):
    code: ClassVar[str] = "MITIGATE.CONFIG.IDEMPOTENCY"


class SagaParkedError(StoreError):
    """Why a saga was parked (its row's ``error`` starts with the code)."""

    code: ClassVar[str] = "MITIGATE.SAGA.INTERNAL"
    default_hint: ClassVar[str] = "fix the cause, then `mitigate saga retry <id>`"


class SagaDefinitionChangedError(SagaParkedError):
    """The saga's row does not fit the definition this worker has (a step added or removed)."""

    code: ClassVar[str] = "MITIGATE.SAGA.DEFINITION_CHANGED"
    default_hint: ClassVar[str] = (
        "run it with the definition it started with (keep the old saga under its name "
        "until its runs finish), then `mitigate saga retry <id>`"
    )


def store_error(exc: BaseException, target: str) -> StoreError:
    """Translate a driver error into a StoreError whose class says what to do next."""
    if isinstance(exc, StoreError):
        return exc
    text = f"{type(exc).__name__}: {exc}".strip()
    if _is_data_error(exc):
        return StoreDataError(target, text)
    if _is_unavailable(exc):
        return StoreUnavailableError(target, text)
    return StoreError(target, text, hint="check the SQL and the schema version")


def _is_data_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError, UnicodeError)):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgres extra is not installed
        return False
    return isinstance(exc, (psycopg.errors.IntegrityError, psycopg.errors.DataError))


def _is_unavailable(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "locked" in text or "busy" in text or "unable to open" in text
    try:
        import psycopg
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (psycopg.OperationalError, PoolTimeout))
