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
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Clock",
    "ConfigError",
    "DeviceRevokedError",
    "DeviceTrust",
    "DeviceTrustRevoked",
    "EnvelopeSigner",
    "Event",
    "Fallback",
    "FallbackUsed",
    "FaultDecision",
    "FaultInjected",
    "HtmlPolicy",
    "HtmlRejected",
    "HtmlRejectedError",
    "ImporterBlocked",
    "ImporterBlockedError",
    "ImporterGate",
    "InjectedError",
    "Injector",
    "InspectionReport",
    "IntegrityError",
    "IpBlocked",
    "IpBlockedError",
    "IpBlocker",
    "KeyCache",
    "KeyRing",
    "KeyRingError",
    "KeyRotated",
    "KeySet",
    "Keyed",
    "License",
    "LimitHit",
    "MitigateError",
    "Observer",
    "Observers",
    "Permit",
    "Pipeline",
    "PublicKey",
    "Quarantine",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RealClock",
    "Recorder",
    "RejectedError",
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
    "SagaOutcome",
    "SagaResumed",
    "SagaStarted",
    "SagaStepFailed",
    "SagaStepStarted",
    "SagaStepSucceeded",
    "SagaStuck",
    "SagaWorker",
    "Severity",
    "SignedUrlError",
    "SqliteStore",
    "StaticTenantRegistry",
    "Step",
    "StepContext",
    "Store",
    "StoreError",
    "TamperDetected",
    "Tenant",
    "TenantError",
    "TenantRejected",
    "TenantResolver",
    "Timeout",
    "UrlSigner",
    "Verdict",
    "VirtualClock",
    "current_deadline",
    "format_duration",
    "inspect_archive",
    "open_store",
    "parse_breaker",
    "parse_duration",
    "parse_retry",
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
