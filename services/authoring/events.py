"""Events the authoring service emits itself (its catalog's detection rules read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = [
    "AiBudgetAlert",
    "AiBudgetWarning",
    "AiProvenanceRefused",
    "AiUnavailable",
    "BlockWriteFailed",
    "CollabCorrupted",
    "CollabProcessDown",
    "CollabRestored",
    "CollabUnavailable",
    "ImportFailed",
    "ImportProgress",
    "ImportRejected",
    "ImportWorkerKilled",
    "PublishRefused",
    "UnsupportedBlock",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRefused(mitigate.Event):
    """A publish command was refused by the media validator (authoring.fm.1.5)."""

    name: ClassVar[str] = "publish.refused"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    draft: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiProvenanceRefused(mitigate.Event):
    """An AI block without provenance was refused at write (authoring.fm.1.3)."""

    name: ClassVar[str] = "ai.provenance_refused"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    block: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiBudgetWarning(mitigate.Event):
    """A tenant's AI usage crossed 80 % of its budget (authoring.fm.1.8)."""

    name: ClassVar[str] = "ai.budget_warning"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiBudgetAlert(mitigate.Event):
    """A tenant's AI usage crossed 95 % of its budget: admins are alerted (fm.1.8)."""

    name: ClassVar[str] = "ai.budget_alert"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    tenant: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiUnavailable(mitigate.Event):
    """The cloud model could not answer (retries spent, timed out or breaker open)."""

    name: ClassVar[str] = "ai.unavailable"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsupportedBlock(mitigate.Event):
    """A player rendered the "unsupported block" stub for a kind it does not know."""

    name: ClassVar[str] = "player.unsupported_block"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockWriteFailed(mitigate.Event):
    """A block write failed after its retries; nothing was acknowledged (retry.1)."""

    name: ClassVar[str] = "store.write_failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRejected(mitigate.Event):
    """A SCORM upload passed its tenant's size cap and was rejected (fm.1.6)."""

    name: ClassVar[str] = "import.rejected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    read: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProgress(mitigate.Event):
    """A SCORM import moved on (bytes extracted of the total)."""

    name: ClassVar[str] = "import.progress"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.INFO
    job: str = ""
    done: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportWorkerKilled(mitigate.Event):
    """The sandboxed import worker hit its memory limit; the job failed (fm.1.6)."""

    name: ClassVar[str] = "import.worker_killed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    job: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportFailed(mitigate.Event):
    """A SCORM import failed (its step's retries spent, or a permanent error)."""

    name: ClassVar[str] = "import.failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    job: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CollabCorrupted(mitigate.Event):
    """An update to a draft's server document did not decode (authoring.fm.1.2)."""

    name: ClassVar[str] = "collab.corrupted"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    draft: str = ""
    process: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CollabRestored(mitigate.Event):
    """A room was (re)built from its latest snapshot and the events after it."""

    name: ClassVar[str] = "collab.restored"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.INFO
    draft: str = ""
    process: str = ""
    snapshot: int = 0
    replayed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CollabProcessDown(mitigate.Event):
    """The router's health probe found a collab process down (authoring.fm.1.7)."""

    name: ClassVar[str] = "collab.process_down"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    process: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CollabUnavailable(mitigate.Event):
    """No collab process answers: editors get single-user mode (authoring.fallback.2)."""

    name: ClassVar[str] = "collab.unavailable"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    draft: str = ""
