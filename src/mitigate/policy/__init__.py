"""The resilience policies and the pipeline that composes them.

Each policy is a frozen options class (pure data, validated when built); a
:class:`Pipeline` composes them for one target and keeps their running state.
"""

from mitigate.policy.breaker import Breaker, BreakerControl
from mitigate.policy.bulkhead import Bulkhead
from mitigate.policy.fallback import NO_VALUE, Fallback
from mitigate.policy.injection import NO_RESULT, FaultDecision, Injector
from mitigate.policy.keyed import Keyed
from mitigate.policy.notation import format_duration, parse_breaker, parse_duration, parse_retry
from mitigate.policy.pipeline import Pipeline, Strategy
from mitigate.policy.ratelimit import Permit, RateLimit, RateLimiter
from mitigate.policy.retry import Retry
from mitigate.policy.timeout import Timeout, current_deadline

__all__ = [
    "NO_RESULT",
    "NO_VALUE",
    "Breaker",
    "BreakerControl",
    "Bulkhead",
    "Fallback",
    "FaultDecision",
    "Injector",
    "Keyed",
    "Permit",
    "Pipeline",
    "RateLimit",
    "RateLimiter",
    "Retry",
    "Strategy",
    "Timeout",
    "current_deadline",
    "format_duration",
    "parse_breaker",
    "parse_duration",
    "parse_retry",
]
