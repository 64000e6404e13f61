"""Turn catalog entries into policy options and pipelines.

Table notation goes through :mod:`mitigate.policy.notation`, so a catalog row and a
``Retry.from_table`` call in code mean exactly the same thing. Catalog ``defaults`` fill
what a row leaves open (the base of an ``"exp cap 30s"`` row); nothing is guessed.

>>> from mitigate.catalog.model import RetrySpec, Defaults
>>> spec = RetrySpec(max=5, backoff="exp cap 30s", budget="15 min")
>>> build_retry(spec, Defaults.model_validate({"retry": {"base": "4s"}}), "publish.step").delays()
(4.0, 8.0, 16.0, 30.0, 30.0)

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mitigate.catalog.model import (
    BreakerSpec,
    CatalogModel,
    Defaults,
    DetectionRule,
    FallbackSpec,
    PolicySpec,
    RetrySpec,
    seconds,
)
from mitigate.errors import ConfigError
from mitigate.observe.detection import Rule
from mitigate.observe.events import Severity
from mitigate.policy.breaker import Breaker
from mitigate.policy.bulkhead import Bulkhead
from mitigate.policy.fallback import Fallback
from mitigate.policy.notation import parse_breaker, parse_retry
from mitigate.policy.ratelimit import RateLimit
from mitigate.policy.retry import Retry
from mitigate.policy.timeout import Timeout

__all__ = [
    "FallbackHandler",
    "build_breaker",
    "build_budget_rule",
    "build_fallback",
    "build_retry",
    "build_rule",
    "build_strategies",
]

FallbackHandler = Callable[..., Any]
_SEVERITY = {
    "critical": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
}


def _dur(value: float | str | None) -> float | None:
    return None if value is None else seconds(value)


def build_retry(spec: RetrySpec, defaults: Defaults | None, target: str) -> Retry:
    """A :class:`Retry` from either notation, completed by the catalog's defaults."""
    fallback = defaults.retry if defaults is not None and defaults.retry is not None else None
    base = spec.base if spec.base is not None else (fallback.base if fallback else None)
    factor = spec.factor if spec.factor is not None else (fallback.factor if fallback else None)
    jitter = spec.jitter or (fallback.jitter if fallback else None) or "none"
    if spec.backoff is not None:
        assert spec.max is not None  # RetrySpec validation
        retry = parse_retry(
            max=str(spec.max),
            backoff=spec.backoff,
            budget=_text(spec.budget),
            # the parser uses base only for rows that give none ("exp cap 30s")
            base=_text(base),
            factor=factor,
            jitter=jitter,
            target=target,
        )
    else:
        retry = Retry(
            spec.max_retries if spec.max_retries is not None else 3,
            schedule=[seconds(d) for d in spec.schedule or ()],
            base=_dur(base) if not spec.schedule else None,
            factor=factor if factor is not None else 2.0,
            cap=_dur(spec.cap),
            jitter=jitter,
            budget=_dur(spec.budget),
        )
    if spec.honor_retry_after is not None and spec.honor_retry_after != retry.honor_retry_after:
        retry = dataclasses.replace(retry, honor_retry_after=spec.honor_retry_after)
    return retry


def build_breaker(spec: BreakerSpec) -> Breaker:
    """A :class:`Breaker` from ``trip`` notation or ``failures`` + ``window``, with the
    rate and half-open options the spec sets."""
    options: dict[str, Any] = {}
    for name in (
        "failure_rate",
        "slow_call_rate",
        "window_calls",
        "minimum_calls",
        "half_open_probes",
        "successes_to_close",
    ):
        if getattr(spec, name) is not None:
            options[name] = getattr(spec, name)
    if spec.slow_call_duration is not None:
        options["slow_call_duration"] = seconds(spec.slow_call_duration)
    if spec.trip is not None:
        # a row without a reset takes the Breaker's default
        reset = spec.reset if spec.reset is not None else Breaker().reset
        breaker = parse_breaker(trip=spec.trip, reset=_text(reset) or "")
        return dataclasses.replace(breaker, **options) if options else breaker
    if spec.failures is not None:
        options["failures"] = spec.failures
    elif spec.failure_rate is not None or spec.slow_call_rate is not None:
        options["failures"] = None  # rate-based only
    if spec.window is not None:
        options["window"] = seconds(spec.window)
    if spec.reset is not None:
        options["reset"] = seconds(spec.reset)
    return Breaker(**options)


def build_fallback(spec: FallbackSpec, handler: FallbackHandler | None) -> Fallback:
    """The pipeline's last resort, tried in this order: a last-known-good result no
    older than ``max_age``, the registered handler, the catalog's fixed ``value``."""
    options: dict[str, Any] = {}
    if spec.value is not None:
        options["value"] = spec.value
    if spec.max_age is not None:
        options["last_known_good"] = seconds(spec.max_age)
    if handler is None and not options:
        raise ConfigError(
            spec.policy,
            f"fallback {spec.id} has no handler, value or max_age",
            hint=f"call catalog.provide({spec.id!r}, handler) before building the policy, "
            "or give the fallback a value in the catalog",
            code="MITIGATE.CONFIG.CATALOG",
        )
    return Fallback(*((handler,) if handler is not None else ()), **options)


def build_strategies(
    target: str,
    spec: PolicySpec,
    model: CatalogModel,
    handlers: dict[str, FallbackHandler] | None = None,
    *,
    with_fallback: bool = True,
) -> list[Any]:
    """The strategies of one policy, outermost first (fallback, retry, breaker,
    bulkhead, rate limit, timeout); the pipeline keeps that order."""
    strategies: list[Any] = []
    if spec.fallback is not None and with_fallback:
        fallback = next((f for f in model.fallbacks if f.id == spec.fallback), None)
        if fallback is None:
            raise ConfigError(
                target, f"no fallback {spec.fallback!r}", code="MITIGATE.CONFIG.CATALOG"
            )
        strategies.append(build_fallback(fallback, (handlers or {}).get(fallback.id)))
    if spec.retry is not None:
        strategies.append(build_retry(spec.retry, model.defaults, target))
    if spec.breaker is not None:
        strategies.append(build_breaker(spec.breaker))
    if spec.bulkhead is not None:
        strategies.append(Bulkhead(spec.bulkhead.max_concurrent, spec.bulkhead.max_queued))
    if spec.rate_limit is not None:
        rate, per = spec.rate_limit.permits()
        kwargs: dict[str, Any] = {}
        if spec.rate_limit.burst is not None:
            kwargs["burst"] = spec.rate_limit.burst
        if spec.rate_limit.algorithm is not None:
            kwargs["algorithm"] = spec.rate_limit.algorithm
        strategies.append(RateLimit(rate, per, **kwargs))
    if spec.timeout is not None:
        strategies.append(Timeout(seconds(spec.timeout)))
    return strategies


def build_rule(rule: DetectionRule, runbook: str | None = None) -> Rule | None:
    """The in-process form of a detection rule; None for a rule that is text only."""
    if rule.kind is None or rule.op is None or rule.threshold is None:
        return None
    return Rule(
        rule.id,
        kind=rule.kind,
        op=rule.op,
        threshold=rule.threshold,
        event=rule.event,
        of=tuple(rule.of or ()),
        metric=rule.metric,
        field=rule.field,
        target=rule.target,
        window=_dur(rule.window),
        sustained=_dur(rule.sustained) or 0.0,
        min_count=rule.min_count or 1,
        severity=_SEVERITY[rule.severity],
        message=rule.signal,
        runbook=rule.runbook or runbook,
    )


def build_budget_rule(model: CatalogModel) -> Rule | None:
    """The error-budget policy as a ratio rule over its burn window (None when the
    catalog has no policy or the policy gives no objective)."""
    budget = model.error_budget
    threshold = budget.error_ratio_threshold() if budget is not None else None
    if budget is None or threshold is None:
        return None
    return Rule(
        budget.id or f"{model.service}.error-budget",
        kind="ratio",
        op=">",
        threshold=threshold,
        event=budget.event or "attempt.failed",
        of=tuple(budget.of or ("attempt.started",)),
        target=budget.target,
        window=seconds(budget.burn_window),
        per_target=False,  # one objective for the whole service
        severity=_SEVERITY[budget.severity],
        message=f"error budget of {budget.slo}: {budget.action}",
    )


def _text(value: float | str | None) -> str | None:
    # The notation parser reads strings; catalog numbers are seconds.
    if value is None or isinstance(value, str):
        return value
    return f"{float(value):g}s"
