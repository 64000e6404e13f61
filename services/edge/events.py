"""Events the edge service emits itself, beside mitigate's: the catalog's detection rules
count them by name (``event: edge.request.failed``), as they count a breaker opening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = [
    "ActorFailed",
    "AiProviderFailed",
    "AiRejected",
    "AiUnavailable",
    "ChatArchiveFailed",
    "ChatArchived",
    "ChatStored",
    "ConfigRejected",
    "KvReadFailed",
    "KvStaleRead",
    "KvWriteFailed",
    "LatencyP99",
    "LimiterCall",
    "RequestFailed",
    "TenantProbing",
    "VectorQueryFailed",
]

_ERROR = mitigate.Severity.ERROR
_WARNING = mitigate.Severity.WARNING


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed(mitigate.Event):
    """A request answered 5xx (``errors_total``; edge.rule.5xx-spike)."""

    name: ClassVar[str] = "edge.request.failed"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    status: int = 500
    request_id: str = ""
    tenant_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantProbing(mitigate.Event):
    """One address crossed the resolution-failure threshold (target: the address)."""

    name: ClassVar[str] = "edge.tenant.probing"
    default_severity: ClassVar[mitigate.Severity] = _WARNING
    failures: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRejected(mitigate.Event):
    """A tenant config set failed validation at load or hot reload (target: the file)."""

    name: ClassVar[str] = "edge.config.rejected"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    path: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KvReadFailed(mitigate.Event):
    """A KV read failed after its retries: served as a miss from the source of truth."""

    name: ClassVar[str] = "edge.kv.read_failed"
    default_severity: ClassVar[mitigate.Severity] = _WARNING
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KvWriteFailed(mitigate.Event):
    """A KV write failed after its retries (counted and reported, never silent)."""

    name: ClassVar[str] = "edge.kv.write_failed"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorFailed(mitigate.Event):
    """An actor method raised (``durable_object_invocations_total{status="error"}``)."""

    name: ClassVar[str] = "edge.actor.failed"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    actor: str = ""
    tenant_id: str = ""
    method: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatArchived(mitigate.Event):
    """Older messages of a session moved to the object store (digest verified)."""

    name: ClassVar[str] = "edge.chat.archived"
    session: str = ""
    messages: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatArchiveFailed(mitigate.Event):
    """An archive write or its digest check failed: nothing was deleted."""

    name: ClassVar[str] = "edge.chat.archive_failed"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    session: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatStored(mitigate.Event):
    """A session's live message count after an append (the actor's storage gauge)."""

    name: ClassVar[str] = "edge.chat.stored"
    session: str = ""
    messages: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LimiterCall(mitigate.Event):
    """One call of a limiter actor: time spent queued and working, in milliseconds
    (``durable_object_cpu_time_ms_histogram``; target: the actor)."""

    name: ClassVar[str] = "edge.limiter.call"
    busy_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class KvStaleRead(mitigate.Event):
    """A reader was served the previous value of a key still propagating (target: the
    reader's location)."""

    name: ClassVar[str] = "edge.kv.stale_read"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.INFO
    key: str = ""
    age: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AiProviderFailed(mitigate.Event):
    """A model call failed after its retries (the gateway's error metric; target: model)."""

    name: ClassVar[str] = "edge.ai.provider_failed"
    default_severity: ClassVar[mitigate.Severity] = _WARNING
    tenant_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiUnavailable(mitigate.Event):
    """Both models failed: the caller got 503 "AI provider is currently unavailable"."""

    name: ClassVar[str] = "edge.ai.unavailable"
    default_severity: ClassVar[mitigate.Severity] = _ERROR
    tenant_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiRejected(mitigate.Event):
    """An AI request refused with its reason (``quota`` or ``auth``; target: tenant)."""

    name: ClassVar[str] = "edge.ai.rejected"
    default_severity: ClassVar[mitigate.Severity] = _WARNING
    reason: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorQueryFailed(mitigate.Event):
    """A vector query failed after its retries: the answer skipped retrieval
    (``vectorize_queries_total{status="error"}``)."""

    name: ClassVar[str] = "edge.vector.query_failed"
    default_severity: ClassVar[mitigate.Severity] = _WARNING
    tenant_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyP99(mitigate.Event):
    """The p99 of the last requests' worker latency, after each request
    (``latency_ms_histogram``; target: the tenant's plan tier)."""

    name: ClassVar[str] = "edge.latency.p99"
    p99_ms: float = 0.0
    cold: bool = False
