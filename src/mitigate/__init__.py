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

__version__ = "0.1.0"

__all__ = [
    "AlertRaised",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "AttemptTimedOut",
    "AttemptTimeoutError",
    "BreakerClosed",
    "BreakerHalfOpened",
    "BreakerOpenError",
    "BreakerOpened",
    "BreakerRejected",
    "BreakerStateChanged",
    "BudgetExhausted",
    "BudgetExhaustedError",
    "BulkheadFull",
    "BulkheadFullError",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Clock",
    "ConfigError",
    "Event",
    "FallbackUsed",
    "FaultInjected",
    "InjectedError",
    "LimitHit",
    "MitigateError",
    "Observer",
    "Observers",
    "RateLimitedError",
    "RealClock",
    "Recorder",
    "RejectedError",
    "RetryExhausted",
    "RetryScheduled",
    "Severity",
    "StoreError",
    "VirtualClock",
]

# Reprs, tracebacks and doctests say mitigate.ConfigError, not a private path (httpx does this).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = "mitigate"
del _name, _obj
