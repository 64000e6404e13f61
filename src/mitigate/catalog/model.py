"""The catalog schema: one service's failure modes, policies, rules and experiments as data.

A catalog is a YAML file validated by :class:`CatalogModel` (pydantic v2, unknown fields
are errors). Policies are keyed by target name (``kms.sign``), the same string the
pipeline, the fault, the event and the metric label use. Durations are written either as
numbers of seconds or in the seeds' notation (``"200ms"``, ``"15 min"``); policy parts
accept the seeds' table notation (``backoff: "50ms, 200ms, 500ms"``, ``trip: "10 fail /
30s"``) or plain fields (``schedule``, ``failures``, ``window``). Values are kept as
written, so a rendered document shows the notation its author chose.

>>> model = CatalogModel.model_validate({
...     "service": "content",
...     "policies": {"kms.sign": {"retry": {"max": 3, "backoff": "50ms, 200ms, 500ms",
...                                         "budget": "1s"}}},
... })
>>> model.policies["kms.sign"].retry.budget
'1s'
>>> seconds("1s"), seconds(2)
(1.0, 2.0)

Cross references (a failure mode naming an undefined rule, a duplicate id) are not
schema errors: :func:`mitigate.catalog.check.check_references` reports them, so that lint
can list them all and ``Catalog.load`` can refuse the file.

.. versionadded:: 0.1
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from mitigate.catalog import limits

__all__ = [
    "SCHEMA_VERSION",
    "BreakerSpec",
    "BulkheadSpec",
    "CatalogModel",
    "Defaults",
    "DetectionRule",
    "Duration",
    "ErrorBudget",
    "Experiment",
    "FailureMode",
    "FallbackSpec",
    "MetricSpec",
    "PolicySpec",
    "Principle",
    "RateLimitSpec",
    "RetryDefaults",
    "RetrySpec",
    "Runbook",
    "Switch",
    "seconds",
]

SCHEMA_VERSION = 1

# Ids and target names: lower-case words joined by dots, dashes or underscores
# (content.fm.1.1, edge.fm.2.4b, kms.sign, ai-gateway).
_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
_NAME_RE = re.compile(_NAME_PATTERN)


def _notation() -> Any:
    # Imported lazily: the notation parser lives in the policy layer, and the schema must
    # stay importable (and its JSON Schema exportable) without building any policy.
    return importlib.import_module("mitigate.policy.notation")


def seconds(value: float | str) -> float:
    """A duration as written in a catalog, in seconds.

    >>> seconds("200ms"), seconds(1.5)
    (0.2, 1.5)
    """
    if isinstance(value, int | float):
        return float(value)
    return float(_notation().parse_duration(value))


def _check_duration(value: float | str) -> float | str:
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        _at_most_a_year(float(value))
        return value
    text = value.strip()
    if not text:
        raise ValueError("empty duration; write e.g. 200ms, 5s, 2m")
    _at_most_a_year(seconds(text))  # a ConfigError becomes a located error (_as_value_error)
    return text


def _at_most_a_year(value: float) -> None:
    if not value <= limits.MAX_DURATION:  # also refuses nan
        raise PydanticCustomError(
            "too_large",
            "duration {value} is longer than a year; no policy waits that long",
            {"value": value},
        )


def _at_most(limit: int) -> Any:
    def check(value: int | None) -> int | None:
        if value is not None and value > limit:
            raise PydanticCustomError(
                "too_large", "{value} is more than {limit}", {"value": value, "limit": limit}
            )
        return value

    return AfterValidator(check)


Retries = Annotated[int, Field(ge=0), _at_most(limits.MAX_RETRIES)]
Count = Annotated[int, Field(ge=1), _at_most(limits.MAX_COUNT)]


def _duration_validator(value: float | str) -> float | str:
    checked: float | str = _as_value_error(_check_duration, value)
    return checked


def _as_value_error(fn: Any, value: Any) -> Any:
    # Parser errors (mitigate.ConfigError) become ValueError so pydantic reports them with
    # the field's location, which the loader maps to a file line.
    from mitigate.errors import ConfigError

    try:
        return fn(value)
    except ConfigError as exc:
        message = exc.message + (f"; {exc.hint}" if exc.hint else "")
        if exc.code == "MITIGATE.CONFIG.TOO_LARGE":
            raise PydanticCustomError(
                "too_large", message.replace("{", "(").replace("}", ")")
            ) from None
        raise ValueError(message) from None


Duration = Annotated[float | str, AfterValidator(_duration_validator)]
"""Seconds as a number, or a string in the seeds' notation: ``"200ms"``, ``"5s"``, ``"15 min"``."""


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name; use lower-case words joined by '.', '-' or '_'"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]

Jitter = Literal["none", "full", "decorrelated"]
Comparator = Literal[">", ">=", "<", "<="]
RuleKind = Literal["count", "rate", "ratio", "gauge", "age"]
FaultKind = Literal[
    "error", "latency", "outage", "drop", "corrupt", "partition", "kill", "failover", "custom"
]
RuleSeverity = Literal["critical", "error", "warning", "info"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- policies


class RetrySpec(_Strict):
    """A retry schedule: table notation (``max``, ``backoff``) or plain fields.

    Table notation follows the seeds: ``max`` is the number of retries after the first
    attempt; ``backoff`` is a list of delays (``"50ms, 200ms, 500ms"``), one delay repeated
    (``"1s"``), ``"exp 100ms–10s"`` (base, cap) or ``"exp cap 30s"`` (cap; the base comes
    from ``base`` or ``defaults.retry.base``). ``budget`` bounds the whole call: no attempt
    starts once it would cross it.
    """

    id: Name | None = None
    """Stable id of the table row (``content.retry.1``)."""
    max: Retries | None = None
    """Table notation: retries after the first attempt."""
    backoff: str | None = None
    """Table notation: ``"50ms, 200ms, 500ms"``, ``"exp 100ms–10s"``, ``"exp cap 30s"``."""
    max_retries: Retries | None = None
    """Plain fields: retries after the first attempt."""
    schedule: list[Duration] | None = None
    """Plain fields: explicit delays; the last one repeats."""
    base: Duration | None = None
    """First exponential delay (also completes ``exp cap`` notation)."""
    factor: float | None = Field(default=None, gt=1.0)
    """Exponential growth factor (default 2)."""
    cap: Duration | None = None
    """Largest exponential delay."""
    jitter: Jitter | None = None
    budget: Duration | None = None
    """Total time over all attempts and waits."""
    honor_retry_after: bool | None = None
    """Take a server-directed delay (Retry-After) from the error when present."""
    source: str | None = None
    """The document text this row came from."""
    description: str | None = None

    @model_validator(mode="after")
    def _one_style(self) -> RetrySpec:
        notation = self.max is not None or self.backoff is not None
        plain = self.max_retries is not None or self.schedule is not None or self.cap is not None
        if notation and plain:
            raise ValueError(
                "write the retry either in table notation (max, backoff) or in plain fields "
                "(max_retries, schedule, base, cap), not both"
            )
        if self.backoff is not None and self.max is None:
            raise ValueError("backoff needs max (retries after the first attempt)")
        if self.schedule is not None and self.base is not None:
            raise ValueError("give either an explicit schedule or an exponential base, not both")
        if self.backoff is not None:
            self._check_notation()
        return self

    def _check_notation(self) -> None:
        # Syntax only: a row like "exp cap 30s" takes its base from the catalog defaults,
        # which this part cannot see; the catalog checks that (check.check_buildable).
        base = self.base if self.base is not None else 1.0
        _as_value_error(
            lambda _: _notation().parse_retry(
                max=str(self.max),
                backoff=self.backoff,
                budget=_text(self.budget),
                base=_text(base),
            ),
            None,
        )

    @property
    def retries(self) -> int:
        """Retries after the first attempt, whichever style was used."""
        if self.max is not None:
            return self.max
        return self.max_retries if self.max_retries is not None else 3


class BreakerSpec(_Strict):
    """A circuit breaker: ``trip: "10 fail / 30s"`` or ``failures`` + ``window``."""

    id: Name | None = None
    """Stable id of the table row (``content.breaker.1``)."""
    trip: str | None = None
    """Table notation: ``"10 fail / 30s"`` or ``"5 / 30s"``."""
    failures: Count | None = None
    """Failures inside ``window`` that open the breaker."""
    window: Duration | None = None
    """Sliding window the failures are counted over."""
    reset: Duration | None = None
    """How long the breaker stays open before a probe is let through."""
    failure_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    """Also (or instead) trip when this fraction of calls in the window fails."""
    slow_call_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    """Trip when this fraction of calls is slower than ``slow_call_duration``."""
    slow_call_duration: Duration | None = None
    window_calls: Count | None = None
    """Measure rates over the last N calls instead of the time window."""
    minimum_calls: Count | None = None
    """Calls needed in the window before a rate is judged."""
    half_open_probes: Count | None = None
    successes_to_close: Count | None = None
    switches: list[Name] | None = None
    """Code mitigations the row also stands on (ids of ``switches``), e.g. the breaker
    state shared by every worker; ``--mutate`` turns each off for the row's experiment."""
    source: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_style(self) -> BreakerSpec:
        if self.trip is not None and (self.failures is not None or self.window is not None):
            raise ValueError('write either trip ("10 fail / 30s") or failures + window, not both')
        if self.trip is not None:
            _as_value_error(
                lambda _: _notation().parse_breaker(
                    trip=self.trip, reset=_text(self.reset if self.reset is not None else 60.0)
                ),
                None,
            )
        return self


class BulkheadSpec(_Strict):
    """At most ``max_concurrent`` calls in flight and ``max_queued`` waiting."""

    id: Name | None = None
    max_concurrent: Count
    max_queued: Annotated[int, Field(ge=0), _at_most(limits.MAX_COUNT)] = 0
    source: str | None = None
    description: str | None = None


class RateLimitSpec(_Strict):
    """``rate`` permits per ``per`` seconds (``limit: "60/min"`` is the short form)."""

    id: Name | None = None
    limit: str | None = None
    """Short form: ``"60/min"``, ``"600 / 1m"``, ``"10/s"``."""
    rate: float | None = Field(default=None, gt=0, le=limits.MAX_COUNT)
    per: Duration | None = None
    burst: Count | None = None
    algorithm: Literal["gcra", "token_bucket", "sliding_window"] | None = None
    source: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_style(self) -> RateLimitSpec:
        if self.limit is not None:
            if self.rate is not None or self.per is not None:
                raise ValueError('write either limit ("60/min") or rate + per, not both')
            _as_value_error(parse_limit, self.limit)
        elif self.rate is None:
            raise ValueError('a rate limit needs limit ("60/min") or rate (+ per)')
        return self

    def permits(self) -> tuple[float, float]:
        """(rate, per seconds), whichever style was used.

        >>> RateLimitSpec(limit="60/min").permits()
        (60.0, 60.0)
        """
        if self.limit is not None:
            return parse_limit(self.limit)
        assert self.rate is not None  # guaranteed by _one_style
        return self.rate, seconds(self.per) if self.per is not None else 1.0


_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(.+?)\s*$")


def parse_limit(text: str) -> tuple[float, float]:
    """Read ``"60/min"`` as (60 permits, per 60 seconds).

    >>> parse_limit("600 / 1m"), parse_limit("10/s")
    ((600.0, 60.0), (10.0, 1.0))
    """
    from mitigate.errors import ConfigError

    match = _LIMIT_RE.match(text)
    if not match:
        raise ConfigError(
            None,
            f"{text!r} is not a rate limit",
            hint="write e.g. 60/min or 10/s",
            code="MITIGATE.CONFIG.NOTATION",
        )
    rate, unit = float(match[1]), match[2]
    if rate > limits.MAX_COUNT:
        raise ConfigError(
            None,
            f"{text!r}: {match[1][:20]} permits is more than {limits.MAX_COUNT}",
            code="MITIGATE.CONFIG.TOO_LARGE",
        )
    per = seconds(unit if unit[0].isdigit() else f"1{unit}")
    if per <= 0:
        raise ConfigError(None, f"{text!r} has a zero period", code="MITIGATE.CONFIG.NOTATION")
    return rate, per


class PolicySpec(_Strict):
    """Everything that guards one target; built into one Pipeline, outermost first:
    fallback -> budget -> retry -> breaker -> bulkhead / rate limit -> timeout."""

    description: str | None = None
    retry: RetrySpec | None = None
    breaker: BreakerSpec | None = None
    timeout: Duration | None = None
    """Per-attempt timeout."""
    bulkhead: BulkheadSpec | None = None
    rate_limit: RateLimitSpec | None = None
    fallback: Name | None = None
    """Id of an entry in ``fallbacks``."""
    source: str | None = None


class RetryDefaults(_Strict):
    """Catalog-wide retry values for rows that leave them open (``"exp cap 30s"``)."""

    base: Duration | None = None
    factor: float | None = Field(default=None, gt=1.0)
    jitter: Jitter | None = None


class Defaults(_Strict):
    retry: RetryDefaults | None = None


# --------------------------------------------------------------------------- fallbacks


class FallbackSpec(_Strict):
    """What answers when the primary cannot, and what the user sees meanwhile."""

    id: Name
    """Stable id (``content.fallback.1``)."""
    primary: str
    """What normally answers (``"Real-time bundle create"``)."""
    fallback: str
    """What answers instead (``"Queue the job"``)."""
    user_sees: str | None = None
    """What the user sees meanwhile (``"preparing offline content"``)."""
    policy: Name | None = None
    """The target whose pipeline ends in this fallback, if any."""
    value: Any = None
    """A fixed answer (JSON value) the pipeline returns, e.g. a default config."""
    max_age: Duration | None = None
    """For last-known-good fallbacks: the oldest value that may be served."""
    source: str | None = None
    description: str | None = None


# --------------------------------------------------------------------------- switches


class Switch(_Strict):
    """A mitigation that is code, not a policy (a guard, a dedupe, a compensation, a
    validation gate, a fallback path), named so the mutation check can turn it off.

    The code asks :class:`mitigate.Switches` ``enabled(id)`` before it mitigates; a
    failure mode lists the id under ``mitigated_by``.
    """

    id: Name
    """Stable id (``content.guard.html-sanitise``)."""
    description: str | None = None
    """What the mitigation does when on."""


# --------------------------------------------------------------------------- detection


def _threshold(value: Any) -> Any:
    # "20%" -> 0.2, "1 000" -> 1000, "30 s" -> 30, "10x" -> 10: thresholds are numbers in
    # natural units (ratios as fractions, durations in seconds).
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "").replace("\u202f", "").replace(",", "")
    if text.endswith("%"):
        return float(text[:-1]) / 100.0
    if text.endswith(("x", "×")):
        return float(text[:-1])
    try:
        number = float(text)
    except ValueError:
        return _as_value_error(seconds, text)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


class DetectionRule(_Strict):
    """A signal that says the failure is happening, and its evaluable form.

    ``signal`` keeps the author's words; the other fields say how to evaluate it over the
    event stream (in process) and over the exported metrics (Prometheus):

    - ``count``: events in ``window`` (``"count > 5 in 5 min"``)
    - ``rate``: events per second over ``window``
    - ``ratio``: ``event`` / ``of`` over ``window`` (``"error rate > 20% over 5 min"``)
    - ``gauge``: the last reported value of ``metric`` (``"lag > 30 s"``)
    - ``age``: seconds since the last ``event`` (``"feedback age > 10 min"``)

    ``sustained`` asks the condition to hold that long before the rule fires. A rule
    without ``kind`` is documentation only (lint says so).
    """

    id: Name
    """Stable id (``comms.rule.sms-error-rate``)."""
    signal: str
    """The signal as written: ``"per-adapter error rate > 20% 5 min"``."""
    kind: RuleKind | None = None
    event: str | None = None
    """Event name the rule counts (``attempt.failed``, ``fallback.used``)."""
    of: list[str] | None = None
    """For ``ratio``: the event names of the denominator."""
    metric: str | None = None
    """For ``gauge`` (or rules over an exported metric): the metric name."""
    field: str | None = None
    """For ``gauge`` over events: the event field holding the value."""
    target: str | None = None
    """Only events of this target (``kms.sign``); all targets when unset."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra label matchers for the Prometheus form (``status: error``)."""
    op: Comparator | None = None
    threshold: Annotated[float, BeforeValidator(_threshold)] | None = None
    """A number in natural units: ratios as fractions (0.2), durations in seconds."""
    window: Duration | None = None
    sustained: Duration | None = None
    min_count: Count | None = None
    """For ``ratio``: judge only once the window holds this many denominator events."""
    severity: RuleSeverity = "warning"
    runbook: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _evaluable(self) -> DetectionRule:
        if self.kind is None:
            return self
        missing = [n for n in ("op", "threshold") if getattr(self, n) is None]
        if self.kind in ("count", "rate", "ratio", "age") and self.event is None:
            missing.append("event")
        if self.kind in ("count", "rate", "ratio") and self.window is None:
            missing.append("window")
        if self.kind == "ratio" and not self.of:
            missing.append("of")
        if self.kind == "gauge" and self.metric is None and self.event is None:
            missing.append("metric (or event + field)")
        if self.kind == "gauge" and self.event is not None and self.field is None:
            missing.append("field")
        if missing:
            raise ValueError(f"a {self.kind} rule needs {', '.join(missing)}")
        return self


# --------------------------------------------------------------------------- failure modes


class FailureMode(_Strict):
    """One way the service can fail, with how it is detected, contained and repaired."""

    id: Name
    """Stable id (``content.fm.1.1``)."""
    title: str
    category: str | None = None
    trigger: str | None = None
    """Cause or trigger."""
    symptom: str | None = None
    detection: str | None = None
    """How it is detected, as written."""
    detection_rules: list[Name] = Field(default_factory=list)
    """Ids of entries in ``detection_rules``."""
    blast_radius: str | None = None
    user_impact: str | None = None
    automatic_mitigation: str | None = None
    """What happens without a human, as written."""
    mitigated_by: list[Name] = Field(default_factory=list)
    """Policy targets (``kms.sign``), policy part ids (``content.retry.1``), fallback ids or
    switch ids (``content.guard.1``)."""
    manual_mitigation: str | None = None
    runbook: str | None = None
    """Path of the runbook (``runbooks/content/build-failures.md``)."""
    experiments: list[Name] = Field(default_factory=list)
    """Ids of entries in ``experiments`` that prove the mitigation."""
    severity: str | None = None
    accepted_risk: str | None = None
    details: dict[str, str] = Field(default_factory=dict)
    """Any other labelled text from the document (``Recovery``, ``RTO``, ...)."""
    source: str | None = None


# --------------------------------------------------------------------------- experiments


class Experiment(_Strict):
    """A chaos experiment: inject a fault at a target, then verify what must hold."""

    id: Name
    """Stable id (``content.chaos.1``)."""
    title: str
    fault: FaultKind
    target: str | None = None
    """Named target the fault attaches to (``kms.sign``)."""
    peer: str | None = None
    """For ``partition``: the other side (``catalog``)."""
    duration: Duration | None = None
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    """For ``drop`` or ``error``: fraction of calls affected (0.1 = 10 %)."""
    latency: Duration | None = None
    """For ``latency``: added delay."""
    when: str | None = None
    """When the fault starts (``"mid-publish"``)."""
    verify: list[str] = Field(default_factory=list)
    """What must hold (``"retry + recovery"``)."""
    failure_modes: list[Name] = Field(default_factory=list)
    """Failure modes this experiment exercises."""
    principles: list[Name] = Field(default_factory=list)
    """Principles this experiment proves (``edge.principle.1``)."""
    source: str | None = None
    description: str | None = None


# --------------------------------------------------------------------------- the rest


class Principle(_Strict):
    """A cross-cutting rule the whole service keeps (fail closed, every failure logged),
    proven like a failure mode: experiments naming it must observe its detection and
    hold its checks, and ``mitigate verify --mutate`` removes each of its ``mitigated_by``
    in turn."""

    id: Name | None = None
    """Stable id (``edge.principle.1``); a principle without one cannot be verified."""
    title: str
    text: str | None = None
    """The statement, as written (``"For any security check, deny on failure."``)."""
    mitigated_by: list[Name] = Field(default_factory=list)
    """The guards it relies on: policy targets, policy part ids, fallback ids or switch
    ids, as a failure mode's ``mitigated_by``."""
    detection_rules: list[Name] = Field(default_factory=list)
    """Ids of entries in ``detection_rules`` that must fire when it is put to the test."""
    experiments: list[Name] = Field(default_factory=list)
    """Ids of entries in ``experiments`` that prove it (an experiment's own
    ``principles`` list, or an experiment with the principle's id, counts too)."""
    source: str | None = None
    """The document text this principle came from."""


class MetricSpec(_Strict):
    """A metric the service exports itself, that a detection rule may read.

    mitigate's own metrics (``mitigate_events_total``...) need no declaration; any other
    name a rule reads must be listed, or lint fails with ``metric-unknown``.
    """

    name: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    type: Literal["counter", "gauge", "histogram", "summary"] = "gauge"
    description: str | None = None


class Runbook(_Strict):
    path: str
    title: str | None = None


class ErrorBudget(_Strict):
    """When the SLO burns ``burn_threshold`` of its ``window`` budget within
    ``burn_window``, take ``action``."""

    id: Name | None = None
    slo: str
    """What the objective measures (``"send latency or dispatch success"``)."""
    objective: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Target success fraction (0.999), when the document gives one."""
    window: Duration
    """The budget period (``"30d"``)."""
    burn_threshold: Annotated[float, BeforeValidator(_threshold)] = Field(gt=0.0)
    """Fraction of the budget (0.5 = 50 %)."""
    burn_window: Duration
    """Within how long (``"7d"``)."""
    action: str
    event: str | None = None
    """Bad events (default ``attempt.failed``)."""
    of: list[str] | None = None
    """All events the objective counts (default ``attempt.started``)."""
    target: str | None = None
    """Only these targets (shell pattern); all when unset."""
    severity: RuleSeverity = "error"
    source: str | None = None

    def error_ratio_threshold(self) -> float | None:
        """The bad/total ratio over ``burn_window`` at which ``burn_threshold`` of the
        budget is gone: threshold x (1 - objective) x window / burn_window.

        >>> budget = ErrorBudget(slo="s", objective=0.999, window="30d", burn_threshold="50%",
        ...                      burn_window="7d", action="freeze")
        >>> round(budget.error_ratio_threshold(), 6)  # 0.5 x 0.001 x 30 / 7
        0.002143
        """
        if self.objective is None:
            return None
        share = seconds(self.window) / seconds(self.burn_window)
        return self.burn_threshold * (1.0 - self.objective) * share


class CatalogModel(_Strict):
    """One service's failure-mode catalog.

    .. versionadded:: 0.1
    """

    version: Literal[1] = 1
    service: Name
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    source: str | None = None
    """Where the catalog was drafted from (a FAILURE_MODES document)."""
    defaults: Defaults | None = None
    principles: list[Principle] = Field(default_factory=list)
    policies: dict[Name, PolicySpec] = Field(default_factory=dict)
    fallbacks: list[FallbackSpec] = Field(default_factory=list)
    switches: list[Switch] = Field(default_factory=list)
    """Mitigations in code the mutation check can turn off (see :class:`Switch`)."""
    detection_rules: list[DetectionRule] = Field(default_factory=list)
    failure_modes: list[FailureMode] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    runbooks: list[Runbook] = Field(default_factory=list)
    metrics: list[MetricSpec] = Field(default_factory=list)
    """Metrics the service exports itself, that detection rules read (see MetricSpec)."""
    error_budget: ErrorBudget | None = None
    real_time: list[Name] = Field(default_factory=list)
    """Rows (failure mode, fallback or experiment ids) whose fault sits on a real link
    (the TCP fault proxy): besides the virtual-time run they also run on the real clock
    against real servers (``mitigate verify --real-time --only ID``)."""


def _text(value: float | str | None) -> str | None:
    # The notation parser reads strings; numbers in a catalog are seconds.
    if value is None or isinstance(value, str):
        return value
    return f"{float(value):g}s"
