"""mitigate: failure modes as code.

The public API, re-exported here; nothing outside mitigate imports private modules.
"""

from __future__ import annotations

from mitigate.catalog import Catalog, CatalogError, CatalogModel
from mitigate.clock import Clock, RealClock, VirtualClock
from mitigate.errors import (
    AttemptTimeoutError,
    BreakerOpenError,
    BudgetExhaustedError,
    BulkheadFullError,
    ConfigError,
    InjectedError,
    MitigateError,
    RateLimitedError,
    RejectedError,
    StoreError,
)
from mitigate.observe.events import (
    AlertRaised,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    AttemptTimedOut,
    BreakerClosed,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExhausted,
    BulkheadFull,
    Event,
    FallbackUsed,
    FaultInjected,
    LimitHit,
    RetryExhausted,
    RetryScheduled,
    Severity,
)
from mitigate.observe.observers import Observer, Observers, Recorder
from mitigate.policy import (
    NO_RESULT,
    Breaker,
    BreakerControl,
    Bulkhead,
    Fallback,
    FaultDecision,
    Injector,
    Keyed,
    Permit,
    Pipeline,
    RateLimit,
    RateLimiter,
    Retry,
    Timeout,
    current_deadline,
    format_duration,
    parse_breaker,
    parse_duration,
    parse_retry,
)

__version__ = "0.1.0"

__all__ = [
    "NO_RESULT",
    "AlertRaised",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "AttemptTimedOut",
    "AttemptTimeoutError",
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
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Clock",
    "ConfigError",
    "Event",
    "Fallback",
    "FallbackUsed",
    "FaultDecision",
    "FaultInjected",
    "InjectedError",
    "Injector",
    "Keyed",
    "LimitHit",
    "MitigateError",
    "Observer",
    "Observers",
    "Permit",
    "Pipeline",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RealClock",
    "Recorder",
    "RejectedError",
    "Retry",
    "RetryExhausted",
    "RetryScheduled",
    "Severity",
    "StoreError",
    "Timeout",
    "VirtualClock",
    "current_deadline",
    "format_duration",
    "parse_breaker",
    "parse_duration",
    "parse_retry",
]

# Reprs, tracebacks and doctests say mitigate.ConfigError, not a private path (httpx does this).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "mitigate"
del _name, _obj
