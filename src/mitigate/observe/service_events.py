"""Events of the service toolkit: health checks, the work queue, the scheduler, the PII guard.

Same model as :mod:`mitigate.observe.events` (frozen dataclasses with ``target``, ``at``,
``severity``, ``error`` and a stable dotted ``name``), so every observer (logs, metrics,
OpenTelemetry, a run's Recorder) takes them unchanged.

>>> e = JobDeadLettered(target="content.thumbnails", at=3.0, job_id="j1", attempts=5)
>>> e.name, e.severity
('queue.dead_lettered', <Severity.ERROR: 'error'>)

.. versionadded:: 0.1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mitigate.observe.events import Event, Severity

__all__ = [
    "HealthCheckFailed",
    "JobCompleted",
    "JobDeadLettered",
    "JobEnqueued",
    "JobFailed",
    "JobLeaseExpired",
    "JobParked",
    "JobUnparked",
    "PiiLeakBlocked",
    "ScheduledJobFailed",
    "ScheduledJobRan",
]


# -- health (mitigate.web.Health); target is the check's name ------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckFailed(Event):
    """A health check raised, answered falsy or timed out (``reason``)."""

    name: ClassVar[str] = "health.check_failed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    critical: bool = True
    reason: str = ""
    duration: float = 0.0


# -- work queue (mitigate.WorkQueue); target is the queue's name ----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEnqueued(Event):
    name: ClassVar[str] = "queue.enqueued"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    job_id: str = ""
    key: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCompleted(Event):
    name: ClassVar[str] = "queue.completed"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    job_id: str = ""
    worker: str = ""
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed(Event):
    """A job's attempt failed; it runs again after ``delay`` seconds."""

    name: ClassVar[str] = "queue.failed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    job_id: str = ""
    worker: str = ""
    reason: str = ""
    delay: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDeadLettered(Event):
    """A job failed for the last time (``max_attempts`` or permanent): moved to the DLQ."""

    name: ClassVar[str] = "queue.dead_lettered"
    default_severity: ClassVar[Severity] = Severity.ERROR
    job_id: str = ""
    reason: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobLeaseExpired(Event):
    """A worker held a job past its lease (crashed or stuck); another worker took it."""

    name: ClassVar[str] = "queue.lease_expired"
    default_severity: ClassVar[Severity] = Severity.WARNING
    job_id: str = ""
    worker: str = ""
    previous_worker: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobParked(Event):
    """A job was set aside for review; it is not retried until unparked."""

    name: ClassVar[str] = "queue.parked"
    default_severity: ClassVar[Severity] = Severity.WARNING
    job_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobUnparked(Event):
    name: ClassVar[str] = "queue.unparked"
    default_severity: ClassVar[Severity] = Severity.INFO
    job_id: str = ""


# -- scheduler (mitigate.Scheduler); target is the job's name -------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledJobRan(Event):
    name: ClassVar[str] = "schedule.ran"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledJobFailed(Event):
    """A periodic job raised; the scheduler logs it and runs the job again next interval."""

    name: ClassVar[str] = "schedule.failed"
    default_severity: ClassVar[Severity] = Severity.ERROR
    duration: float = 0.0
    reason: str = ""


# -- PII guard (mitigate.guard.assert_no_protected); target is the payload's name ----------


@dataclass(frozen=True, slots=True, kw_only=True)
class PiiLeakBlocked(Event):
    """A payload carried a protected field and was stopped; ``path`` names the field,
    never its value."""

    name: ClassVar[str] = "pii.leak_blocked"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    path: str = ""
