"""One error tree, each error with a stable code.

::

    MitigateError                       code; target; runbook
    ├── RejectedError                   the dependency was NOT called (never counts as its failure)
    │   ├── BreakerOpenError            MITIGATE.BREAKER.OPEN       (retry_after)
    │   ├── BulkheadFullError           MITIGATE.BULKHEAD.FULL
    │   ├── RateLimitedError            MITIGATE.RATELIMIT.EXCEEDED (retry_after)
    │   └── BudgetExhaustedError        MITIGATE.BUDGET.EXHAUSTED
    ├── AttemptTimeoutError             MITIGATE.TIMEOUT.ATTEMPT
    ├── ConfigError                     MITIGATE.CONFIG.*  (catalog, notation)
    ├── StoreError                      MITIGATE.STORE.*
    └── InjectedError                   MITIGATE.CHAOS.INJECTED

``str(error)`` reads ``[CODE] target: what happened; what to do``. Codes never change
once published. Each class carries its code (``DurationError``: ``MITIGATE.CONFIG.DURATION``,
``NotationError``: ``MITIGATE.CONFIG.NOTATION``, ``CallStyleError``:
``MITIGATE.CONFIG.CALL_STYLE``, each a ``ConfigError``); an instance may still refine it.

>>> err = BreakerOpenError("kms.sign", "open after 10 failures in 30s", retry_after=42.0)
>>> str(err)
'[MITIGATE.BREAKER.OPEN] kms.sign: open after 10 failures in 30s; calls fail fast for 42.0s more'
>>> err.code, err.retry_after
('MITIGATE.BREAKER.OPEN', 42.0)

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AttemptTimeoutError",
    "BreakerOpenError",
    "BudgetExhaustedError",
    "BulkheadFullError",
    "CallStyleError",
    "ConfigError",
    "DurationError",
    "InjectedError",
    "MitigateError",
    "NotationError",
    "RateLimitedError",
    "RejectedError",
    "StoreError",
]

# Notes added to an exception that a policy re-raises unchanged (stamina and Polly
# re-raise the last error so callers' except clauses keep working).
RETRY_EXHAUSTED_NOTE = "MITIGATE.RETRY.EXHAUSTED"
BUDGET_EXHAUSTED_NOTE = "MITIGATE.BUDGET.EXHAUSTED"


class MitigateError(Exception):
    """The base of every error mitigate raises.

    ``target`` names the dependency (``kms.sign``); ``hint`` says what to do;
    ``runbook`` points at the catalog's runbook for the failure, when known.
    """

    code: ClassVar[str] = "MITIGATE.ERROR"
    default_hint: ClassVar[str] = ""

    def __init__(
        self,
        target: str | None,
        message: str,
        *,
        hint: str | None = None,
        runbook: str | None = None,
        code: str | None = None,
    ) -> None:
        self.target = target
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        self.runbook = runbook
        if code is not None:
            self.code = code  # type: ignore[misc]  # refine the class code per instance
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" {self.target}:" if self.target else ""
        text = f"[{self.code}]{where} {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        if self.runbook:
            text += f". Runbook: {self.runbook}"
        return text


class RejectedError(MitigateError):
    """A policy refused the call; the dependency was not called."""

    code: ClassVar[str] = "MITIGATE.REJECTED"

    def __init__(
        self,
        target: str | None,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        runbook: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(target, message, hint=hint, runbook=runbook)


class BreakerOpenError(RejectedError):
    """The circuit breaker is open: calls fail fast until it half-opens."""

    code: ClassVar[str] = "MITIGATE.BREAKER.OPEN"

    def __init__(
        self,
        target: str | None,
        message: str = "circuit breaker is open",
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        runbook: str | None = None,
    ) -> None:
        if hint is None:
            hint = (
                f"calls fail fast for {retry_after:.1f}s more"
                if retry_after is not None
                else "calls fail fast until the breaker half-opens"
            )
        super().__init__(target, message, retry_after=retry_after, hint=hint, runbook=runbook)


class BulkheadFullError(RejectedError):
    """Too many calls in flight and the queue is full."""

    code: ClassVar[str] = "MITIGATE.BULKHEAD.FULL"
    default_hint: ClassVar[str] = "shed load or raise max_concurrent / max_queued"


class RateLimitedError(RejectedError):
    """The rate limit is spent; ``retry_after`` says when the next permit comes."""

    code: ClassVar[str] = "MITIGATE.RATELIMIT.EXCEEDED"
    default_hint: ClassVar[str] = "wait retry_after seconds before calling again"


class BudgetExhaustedError(RejectedError):
    """No attempt could start: the total time budget was already spent."""

    code: ClassVar[str] = "MITIGATE.BUDGET.EXHAUSTED"
    default_hint: ClassVar[str] = "raise the budget or make attempts faster"


class AttemptTimeoutError(MitigateError):
    """An attempt ran past its own deadline (not raised when the caller cancelled)."""

    code: ClassVar[str] = "MITIGATE.TIMEOUT.ATTEMPT"
    default_hint: ClassVar[str] = "the dependency is slow; check its latency or raise the timeout"


class ConfigError(MitigateError):
    """A policy, notation or catalog is invalid; raised at load, never on first call.

    >>> raise ConfigError(None, "'soon' is not a duration", hint="write e.g. 5s",
    ...                   code="MITIGATE.CONFIG.DURATION")
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.DURATION] 'soon' is not a duration; write e.g. 5s
    """

    code: ClassVar[str] = "MITIGATE.CONFIG.INVALID"


class StoreError(MitigateError):
    """The durable store failed or holds something it cannot read."""

    code: ClassVar[str] = "MITIGATE.STORE.ERROR"


class InjectedError(MitigateError):
    """The default error a chaos fault raises."""

    code: ClassVar[str] = "MITIGATE.CHAOS.INJECTED"
    default_hint: ClassVar[str] = "a chaos fault is attached to this target"

    def __init__(
        self,
        target: str | None,
        message: str = "fault injected",
        *,
        hint: str | None = None,
        runbook: str | None = None,
    ) -> None:
        super().__init__(target, message, hint=hint, runbook=runbook)


class CallStyleError(ConfigError):
    """``acall`` was given a plain function, or ``call`` a coroutine function.

    A misuse of the pipeline, not a failure of the dependency: it is never retried,
    never counted by a breaker and never answered by a fallback.
    """

    code: ClassVar[str] = "MITIGATE.CONFIG.CALL_STYLE"


class DurationError(ConfigError):
    """A duration is not readable (write e.g. 200ms, 5s, 2m)."""

    code: ClassVar[str] = "MITIGATE.CONFIG.DURATION"


class NotationError(ConfigError):
    """A retry or breaker cell in table notation is not readable."""

    code: ClassVar[str] = "MITIGATE.CONFIG.NOTATION"


class TooLargeError(ConfigError):
    """A notation value is beyond its limit (a duration too large to be finite, too many
    retries, a breaker or rate counting too high)."""

    code: ClassVar[str] = "MITIGATE.CONFIG.TOO_LARGE"
