"""The public API is exactly this list: a change here is an API change (httpx pins it too)."""

from __future__ import annotations

import mitigate

EXPECTED = [
    "NO_RESULT",
    "AlertRaised",
    "ArchiveGuard",
    "ArchiveLimits",
    "ArchiveQuarantined",
    "ArchiveRejectedError",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "AttemptTimedOut",
    "AttemptTimeoutError",
    "Attempts",
    "Breaker",
    "BreakerClosed",
    "BreakerControl",
    "BreakerHalfOpened",
    "BreakerOpenError",
    "BreakerOpened",
    "BreakerRejected",
    "BreakerStateChanged",
    "BudgetExhausted",
    "BudgetExhaustedError",
    "Bulkhead",
    "BulkheadFull",
    "BulkheadFullError",
    "BundleEnvelope",
    "BundleVerifier",
    "Bus",
    "BusUnavailableError",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Clock",
    "ConfigError",
    "Consumer",
    "ConsumerSpec",
    "DatabaseIdempotencyStore",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "DeadLetterReplayed",
    "DeadLettered",
    "DeadLetters",
    "DeviceRevokedError",
    "DeviceTrust",
    "DeviceTrustRevoked",
    "EnvelopeSigner",
    "Event",
    "Fallback",
    "FallbackUsed",
    "FaultDecision",
    "FaultInjected",
    "HealthCheckFailed",
    "HtmlPolicy",
    "HtmlRejected",
    "HtmlRejectedError",
    "IdempotencyConflict",
    "IdempotencyMiddleware",
    "IdempotentReplay",
    "ImporterBlocked",
    "ImporterBlockedError",
    "ImporterGate",
    "Inbox",
    "InboxDuplicate",
    "InboxHeld",
    "InboxOrderGap",
    "InjectedError",
    "Injector",
    "InprocBus",
    "InspectionReport",
    "IntegrityError",
    "IpBlocked",
    "IpBlockedError",
    "IpBlocker",
    "Job",
    "JobCompleted",
    "JobDeadLettered",
    "JobEnqueued",
    "JobFailed",
    "JobLeaseExpired",
    "JobParked",
    "JobUnparked",
    "KeyCache",
    "KeyRing",
    "KeyRingError",
    "KeyRotated",
    "KeySet",
    "Keyed",
    "LeaseLostError",
    "License",
    "LimitHit",
    "Message",
    "Migration",
    "MitigateError",
    "NotJsonError",
    "Observer",
    "Observers",
    "OutOfOrderError",
    "Outbox",
    "OutboxBacklog",
    "OutboxPublishFailed",
    "OutboxPublished",
    "Permit",
    "PiiLeakBlocked",
    "PiiLeakError",
    "Pipeline",
    "PoisonMessageError",
    "PublicKey",
    "PublishRejectedError",
    "Quarantine",
    "QueueError",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RealClock",
    "Recorder",
    "RedisIdempotencyStore",
    "RejectedError",
    "Relay",
    "RelayOptions",
    "Retry",
    "RetryExhausted",
    "RetryScheduled",
    "RlsError",
    "Saga",
    "SagaAbandoned",
    "SagaCompensated",
    "SagaCompensating",
    "SagaCompensationFailed",
    "SagaCompleted",
    "SagaDeadlineExceeded",
    "SagaDefinitionChangedError",
    "SagaHandle",
    "SagaOutcome",
    "SagaParked",
    "SagaParkedError",
    "SagaRecord",
    "SagaResumed",
    "SagaStarted",
    "SagaStepFailed",
    "SagaStepStarted",
    "SagaStepSucceeded",
    "SagaStuck",
    "SagaWorker",
    "SagaWorkerFailed",
    "SagaWorkerOptions",
    "ScheduledJobFailed",
    "ScheduledJobRan",
    "Scheduler",
    "Severity",
    "SharedBreakers",
    "SignedUrlError",
    "SqliteStore",
    "StaticTenantRegistry",
    "Step",
    "StepContext",
    "Store",
    "StoreDataError",
    "StoreError",
    "StoreUnavailableError",
    "Switches",
    "TamperDetected",
    "Tenant",
    "TenantError",
    "TenantRejected",
    "TenantResolver",
    "TieredIdempotencyStore",
    "Timeout",
    "UrlSigner",
    "Verdict",
    "VirtualClock",
    "WorkQueue",
    "compensate_saga",
    "current_deadline",
    "format_duration",
    "get_saga",
    "inspect_archive",
    "list_sagas",
    "migrate",
    "open_store",
    "parse_breaker",
    "parse_duration",
    "parse_retry",
    "retry_saga",
    "sanitize",
    "sanitize_for_write",
    "verify_bundle",
    "verify_license",
]

POLICY_NAMES = {
    "NO_RESULT", "Breaker", "BreakerControl", "Bulkhead", "Fallback", "FaultDecision", "Injector",
    "Keyed", "Permit", "Pipeline", "RateLimit", "RateLimiter", "Retry", "Timeout",
    "current_deadline", "format_duration", "parse_breaker", "parse_duration", "parse_retry",
}  # fmt: skip


def test_all_is_pinned() -> None:
    added = sorted(set(mitigate.__all__) - set(EXPECTED))
    removed = sorted(set(EXPECTED) - set(mitigate.__all__))
    assert not added and not removed, (
        f"the public API changed (added {added}, removed {removed}): "
        "update EXPECTED in tests/test_public_api.py so the diff shows it"
    )
    assert mitigate.__all__ == EXPECTED, "keep __all__ sorted (constants, classes, functions)"


def test_every_name_exists_and_classes_read_as_mitigate() -> None:
    for name in mitigate.__all__:
        obj = getattr(mitigate, name)
        if isinstance(obj, type):
            assert obj.__module__ == "mitigate", name


def test_policy_names_are_exported() -> None:
    assert set(mitigate.__all__) >= POLICY_NAMES
    assert repr(mitigate.Retry(1, base=1.0)).startswith("Retry(")


def test_service_toolkit_names_are_public_where_the_contract_says() -> None:
    import mitigate.guard
    import mitigate.observe
    import mitigate.web

    assert {"Migration", "migrate", "WorkQueue", "Job", "Scheduler", "Switches"} <= set(
        mitigate.__all__
    )
    assert {"ErrorEnvelopeMiddleware", "error_body", "current_trace_id", "Health",
            "TenantMiddleware", "RateLimitMiddleware", "IdempotencyMiddleware",
            "SignedObjectApp"} <= set(mitigate.web.__all__)  # fmt: skip
    assert {"assert_no_protected", "PiiLeakError", "Protected", "tenant_transaction",
            "RedisRateLimiter", "RedisIpBlocker", "PostgresTenantRegistry",
            "StaticTenantRegistry"} <= set(mitigate.guard.__all__)  # fmt: skip
    assert {"OpenTelemetryObserver", "PrometheusObserver", "StructlogObserver",
            "Recorder"} <= set(mitigate.observe.__all__)  # fmt: skip


def test_web_and_guard_re_export_every_public_name_of_their_modules() -> None:
    import importlib
    import pkgutil

    for package in ("mitigate.web", "mitigate.guard"):
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package}.{info.name}")
            missing = sorted(set(getattr(module, "__all__", ())) - set(pkg.__all__))
            assert not missing, f"{package} does not re-export {info.name}'s {missing}"
