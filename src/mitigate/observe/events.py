"""One event model for every decision a policy takes.

Every event is a frozen, slotted dataclass with the common fields ``target``, ``at``
(clock time), ``attempt``, ``severity``, ``error`` and a stable dotted ``name``. Observers
are plain callables taking one event. Policies build an event only when an observer
listens, so an unobserved pipeline pays nothing for them.

>>> e = RetryScheduled(target="kms.sign", at=1.5, attempt=1, delay=0.05)
>>> e.name, e.delay, e.severity
('retry.scheduled', 0.05, <Severity.INFO: 'info'>)

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, ClassVar

__all__ = [
    "AlertRaised",
    "ArchiveQuarantined",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "AttemptTimedOut",
    "BreakerClosed",
    "BreakerHalfOpened",
    "BreakerOpened",
    "BreakerRejected",
    "BreakerStateChanged",
    "BudgetExhausted",
    "BulkheadFull",
    "DeadLetterReplayed",
    "DeadLettered",
    "DeviceTrustRevoked",
    "Event",
    "FallbackUsed",
    "FaultInjected",
    "HtmlRejected",
    "IdempotencyConflict",
    "IdempotentReplay",
    "ImporterBlocked",
    "InboxDuplicate",
    "InboxHeld",
    "InboxOrderGap",
    "IpBlocked",
    "KeyRotated",
    "LimitHit",
    "OutboxBacklog",
    "OutboxPublishFailed",
    "OutboxPublished",
    "RetryExhausted",
    "RetryScheduled",
    "SagaAbandoned",
    "SagaCompensated",
    "SagaCompensating",
    "SagaCompensationFailed",
    "SagaCompleted",
    "SagaDeadlineExceeded",
    "SagaEvent",
    "SagaParked",
    "SagaResumed",
    "SagaStarted",
    "SagaStepFailed",
    "SagaStepStarted",
    "SagaStepSucceeded",
    "SagaStuck",
    "SagaWorkerFailed",
    "Severity",
    "TamperDetected",
    "TenantRejected",
]


class Severity(enum.Enum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """The common part of every event.

    ``name`` is a class constant (``retry.scheduled``); subclasses add their own fields.
    """

    name: ClassVar[str] = "event"
    default_severity: ClassVar[Severity] = Severity.INFO

    target: str
    at: float
    attempt: int = 0
    severity: Severity | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        if self.severity is None:
            object.__setattr__(self, "severity", self.default_severity)

    def fields(self) -> dict[str, Any]:
        """The event as a flat dict (name first), for logs, journals and reports.

        >>> AttemptStarted(target="t", at=0.0, attempt=1).fields()["name"]
        'attempt.started'
        """
        out: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Severity):
                value = value.value
            elif isinstance(value, BaseException):
                value = f"{type(value).__name__}: {value}"
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptStarted(Event):
    name: ClassVar[str] = "attempt.started"
    default_severity: ClassVar[Severity] = Severity.DEBUG


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptSucceeded(Event):
    name: ClassVar[str] = "attempt.succeeded"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailed(Event):
    """An attempt raised, or returned a result the policy treats as failure."""

    name: ClassVar[str] = "attempt.failed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    duration: float = 0.0
    result: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptTimedOut(Event):
    name: ClassVar[str] = "timeout.fired"
    default_severity: ClassVar[Severity] = Severity.WARNING
    timeout: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(Event):
    """A retry will run after ``delay`` seconds (sent before the sleep)."""

    name: ClassVar[str] = "retry.scheduled"
    delay: float = 0.0
    server_directed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryExhausted(Event):
    name: ClassVar[str] = "retry.exhausted"
    default_severity: ClassVar[Severity] = Severity.ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExhausted(Event):
    """The next retry would pass the total budget, so it is not taken."""

    name: ClassVar[str] = "budget.exhausted"
    default_severity: ClassVar[Severity] = Severity.ERROR
    budget: float = 0.0
    remaining: float = 0.0
    delay: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerStateChanged(Event):
    name: ClassVar[str] = "breaker.state_changed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    from_state: str = ""
    to_state: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerOpened(BreakerStateChanged):
    name: ClassVar[str] = "breaker.opened"
    default_severity: ClassVar[Severity] = Severity.ERROR
    failures: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerHalfOpened(BreakerStateChanged):
    name: ClassVar[str] = "breaker.half_opened"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerClosed(BreakerStateChanged):
    name: ClassVar[str] = "breaker.closed"
    default_severity: ClassVar[Severity] = Severity.INFO


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerRejected(Event):
    """An open breaker refused a call without calling the dependency."""

    name: ClassVar[str] = "breaker.rejected"
    default_severity: ClassVar[Severity] = Severity.WARNING
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackUsed(Event):
    """A fallback answered instead of the primary; ``reason`` says why."""

    name: ClassVar[str] = "fallback.used"
    default_severity: ClassVar[Severity] = Severity.WARNING
    reason: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadFull(Event):
    name: ClassVar[str] = "bulkhead.full"
    default_severity: ClassVar[Severity] = Severity.WARNING
    in_flight: int = 0
    queued: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitHit(Event):
    """A rate limit refused a call; ``retry_after`` says when the next permit comes."""

    name: ClassVar[str] = "ratelimit.hit"
    default_severity: ClassVar[Severity] = Severity.WARNING
    key: str = ""
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultInjected(Event):
    """A chaos fault acted on a call at ``target``."""

    name: ClassVar[str] = "fault.injected"
    default_severity: ClassVar[Severity] = Severity.INFO
    fault: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(Event):
    """A detection rule fired."""

    name: ClassVar[str] = "alert.raised"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    rule: str = ""
    value: float = 0.0
    threshold: float = 0.0
    message: str = ""


# -- integrity and guards (issue 7) -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TamperDetected(Event):
    """Bytes or an envelope failed verification; ``reason`` is the error code.

    ``subject`` names what was checked (a bundle id, a URL path); ``device`` is set when a
    device reported or ran the check.
    """

    name: ClassVar[str] = "integrity.tamper_detected"
    default_severity: ClassVar[Severity] = Severity.ERROR
    subject: str = ""
    reason: str = ""
    device: str = ""
    kid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceTrustRevoked(Event):
    """A device crossed the tamper threshold and is no longer trusted (an admin alert)."""

    name: ClassVar[str] = "integrity.device_revoked"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    device: str = ""
    tampers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotated(Event):
    """The signing key changed; ``emergency`` means the previous key was revoked at once."""

    name: ClassVar[str] = "integrity.key_rotated"
    default_severity: ClassVar[Severity] = Severity.INFO
    kid: str = ""
    previous_kid: str = ""
    emergency: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveQuarantined(Event):
    """An uploaded archive failed inspection and was moved to quarantine."""

    name: ClassVar[str] = "guard.archive_quarantined"
    default_severity: ClassVar[Severity] = Severity.ERROR
    tenant: str = ""
    archive: str = ""
    reason: str = ""
    entry: str = ""
    sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImporterBlocked(Event):
    """A tenant's importer is blocked pending security review (a security alert)."""

    name: ClassVar[str] = "guard.importer_blocked"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    tenant: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HtmlRejected(Event):
    """A write was refused because the sanitiser would have changed the markup."""

    name: ClassVar[str] = "guard.html_rejected"
    default_severity: ClassVar[Severity] = Severity.WARNING
    field: str = ""
    offending: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantRejected(Event):
    """A request was refused because its tenant could not be resolved (fail closed)."""

    name: ClassVar[str] = "guard.tenant_rejected"
    default_severity: ClassVar[Severity] = Severity.WARNING
    reason: str = ""
    source: str = ""
    status: int = 0
    client: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IpBlocked(Event):
    """A client address crossed the failure threshold and is blocked for ``duration``."""

    name: ClassVar[str] = "guard.ip_blocked"
    default_severity: ClassVar[Severity] = Severity.ERROR
    ip: str = ""
    failures: int = 0
    window: float = 0.0
    duration: float = 0.0


# -- sagas (mitigate.durable) -------------------------------------------------------------
# ``target`` is the saga's name (``content.publish``); ``saga_id`` the run; ``step`` the
# step's name; ``phase`` is "action" or "compensation".


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaEvent(Event):
    """The common part of saga transitions."""

    name: ClassVar[str] = "saga.event"
    saga_id: str = ""
    step: str = ""
    phase: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStarted(SagaEvent):
    name: ClassVar[str] = "saga.started"


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStepStarted(SagaEvent):
    name: ClassVar[str] = "saga.step_started"
    default_severity: ClassVar[Severity] = Severity.DEBUG


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStepSucceeded(SagaEvent):
    """A step's action or compensation finished and its outcome is recorded."""

    name: ClassVar[str] = "saga.step_succeeded"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStepFailed(SagaEvent):
    """A step's action failed after its retries (the saga compensates next)."""

    name: ClassVar[str] = "saga.step_failed"
    default_severity: ClassVar[Severity] = Severity.ERROR
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaDeadlineExceeded(SagaEvent):
    """The saga's deadline passed; the step in flight is interrupted and it compensates."""

    name: ClassVar[str] = "saga.deadline_exceeded"
    default_severity: ClassVar[Severity] = Severity.ERROR
    deadline: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaCompensating(SagaEvent):
    """Compensation begins; ``reason`` is step_failed, deadline or operator."""

    name: ClassVar[str] = "saga.compensating"
    default_severity: ClassVar[Severity] = Severity.WARNING
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaCompleted(SagaEvent):
    name: ClassVar[str] = "saga.completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaCompensated(SagaEvent):
    """Every completed step was undone; the saga ended in ``compensated``."""

    name: ClassVar[str] = "saga.compensated"
    default_severity: ClassVar[Severity] = Severity.WARNING


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaResumed(SagaEvent):
    """A worker took over a saga whose previous owner's lease expired (or was released)."""

    name: ClassVar[str] = "saga.resumed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    previous_owner: str = ""
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaAbandoned(SagaEvent):
    """This worker stopped driving a saga: its lease was taken over, or the store failed.

    The saga is not lost: its row still says where it is, and the next claim resumes it.
    """

    name: ClassVar[str] = "saga.abandoned"
    default_severity: ClassVar[Severity] = Severity.WARNING
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaCompensationFailed(AlertRaised):
    """A compensation exhausted its retries; the saga is parked in ``compensation_failed``."""

    name: ClassVar[str] = "saga.compensation_failed"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    saga_id: str = ""
    step: str = ""
    runbook: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaStuck(AlertRaised):
    """A saga sat in one step longer than its threshold (``value`` seconds so far)."""

    name: ClassVar[str] = "saga.stuck"
    default_severity: ClassVar[Severity] = Severity.ERROR
    saga_id: str = ""
    step: str = ""
    phase: str = ""
    runbook: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaParked(AlertRaised):
    """A saga was set aside in ``parked``: it does not fit this worker's definition
    (``MITIGATE.SAGA.DEFINITION_CHANGED``) or its driver hit an unexpected error
    (``MITIGATE.SAGA.INTERNAL``). Nothing runs until an operator retries it."""

    name: ClassVar[str] = "saga.parked"
    default_severity: ClassVar[Severity] = Severity.CRITICAL
    saga_id: str = ""
    step: str = ""
    code: str = ""
    reason: str = ""
    runbook: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaWorkerFailed(Event):
    """A saga worker's own loop failed (``where``: claim, heartbeat, stuck_scan, release,
    driver); it goes on, and ``reason`` says what failed."""

    name: ClassVar[str] = "saga.worker_failed"
    default_severity: ClassVar[Severity] = Severity.ERROR
    where: str = ""
    reason: str = ""


# -- messaging (mitigate.durable outbox/inbox/dlq, mitigate.bus, idempotency) --------------
# ``target`` is the outbox's, consumer's or store's name (``outbox``, ``catalog.consumer``).


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxBacklog(Event):
    """A sample of the outbox: rows not yet published, the oldest one's age, and the p95
    publish lag (created -> broker ack) of rows sent in the last lag window. Detection
    rules read these fields as gauges ("> 1,000 rows for 10 min", "lag p95 > 30 s")."""

    name: ClassVar[str] = "outbox.backlog"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    backlog: int = 0
    oldest_age: float = 0.0
    lag_p95: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPublished(Event):
    """The relay published ``count`` rows and marked them sent; ``lag_max`` is the longest
    time one of them waited in the outbox."""

    name: ClassVar[str] = "outbox.published"
    default_severity: ClassVar[Severity] = Severity.DEBUG
    count: int = 0
    lag_max: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPublishFailed(Event):
    """A relay round ended with ``pending`` rows unpublished; they stay in the outbox and
    the relay backs off for ``delay`` seconds."""

    name: ClassVar[str] = "outbox.publish_failed"
    default_severity: ClassVar[Severity] = Severity.WARNING
    pending: int = 0
    delay: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLettered(Event):
    """A message was moved to the DLQ (``source``: ``outbox`` or the consumer's name)."""

    name: ClassVar[str] = "dlq.added"
    default_severity: ClassVar[Severity] = Severity.ERROR
    source: str = ""
    msg_id: str = ""
    reason: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterReplayed(Event):
    """A DLQ entry was sent again (through the outbox) after a fix."""

    name: ClassVar[str] = "dlq.replayed"
    default_severity: ClassVar[Severity] = Severity.INFO
    source: str = ""
    msg_id: str = ""
    dlq_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxDuplicate(Event):
    """A delivery the consumer had already handled; ``by`` is ``id`` or ``business_key``."""

    name: ClassVar[str] = "inbox.duplicate"
    default_severity: ClassVar[Severity] = Severity.INFO
    msg_id: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxHeld(Event):
    """A delivery arrived before an earlier event of its key: held back and redelivered
    later (``after`` is the earlier event's outbox sequence, ``last`` what was applied)."""

    name: ClassVar[str] = "inbox.held"
    default_severity: ClassVar[Severity] = Severity.INFO
    msg_id: str = ""
    key: str = ""
    after: int = 0
    last: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxOrderGap(Event):
    """A held delivery waited ``waited`` seconds and its predecessor never came (it went
    to the DLQ, or was lost upstream): applied anyway, so the key does not stall."""

    name: ClassVar[str] = "inbox.order_gap"
    default_severity: ClassVar[Severity] = Severity.WARNING
    msg_id: str = ""
    key: str = ""
    waited: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentReplay(Event):
    """A repeated request got the stored response; ``tier`` says which store had it."""

    name: ClassVar[str] = "idempotency.replayed"
    default_severity: ClassVar[Severity] = Severity.INFO
    key: str = ""
    tier: str = ""
    status: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyConflict(Event):
    """A request was refused: ``status`` 409 (first still in flight) or 422 (same key,
    different payload) or 400 (key missing where required)."""

    name: ClassVar[str] = "idempotency.conflict"
    default_severity: ClassVar[Severity] = Severity.WARNING
    key: str = ""
    status: int = 0
    reason: str = ""
