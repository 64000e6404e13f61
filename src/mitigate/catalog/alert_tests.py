"""``promtool test rules`` fixtures for the alerts of a catalog: one firing, one quiet.

For each alert the fixture feeds the series its expression reads (counters rising at a
steady rate, gauges held constant), evaluates it once the window is full and the
``for:`` time has passed, and expects the alert with its labels and expanded
annotations (firing) or no alert (quiet). The values are chosen far from the threshold:
twice or half of it, so the extrapolation of ``rate``/``increase`` cannot flip a case.
A case that no input can produce (``>= 0`` never quiet) is listed as skipped, with why.

.. versionadded:: 0.1
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import yaml

from mitigate.catalog.alerts import (
    EVENTS_TOTAL,
    AlertRules,
    budget_annotations,
    budget_interval,
    keeps_target,
    prom_duration,
    rule_annotations,
)
from mitigate.catalog.model import CatalogModel, DetectionRule, ErrorBudget, seconds

__all__ = ["AlertTests", "alert_tests"]

_START = 1000.0  # counters start high: rate() extrapolation never clips at zero
_FIXTURE_TARGET = "fixture"


@dataclass(slots=True)
class AlertTests:
    """A ``promtool test rules`` file, and the cases that could not be written."""

    document: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(len(t["alert_rule_test"]) for t in self.document["tests"])

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=False, allow_unicode=True, width=100)


@dataclass(slots=True)
class _Case:
    series: list[dict[str, str]]
    labels: dict[str, str]
    value: float


def alert_tests(model: CatalogModel, rules: AlertRules, rule_file: str) -> AlertTests:
    """Fixtures for every alert in ``rules`` (made from ``model``); ``rule_file`` is the
    rule file's path relative to where the fixture file will be written."""
    entries = [r for group in rules.groups for r in group["rules"]]
    file_step = _interval([rules.sources[e["alert"]] for e in entries])
    tests: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    for entry in entries:
        source = rules.sources[entry["alert"]]
        span = _span(source)
        # A week-long burn is evaluated in its own group, every budget_interval; its
        # series are scraped at that step too (a seconds step is too many samples).
        step = budget_interval(source) if isinstance(source, ErrorBudget) else file_step
        hold = seconds(entry["for"]) if "for" in entry else 0.0
        eval_at = math.ceil((span + hold + 4 * step) / step) * step
        samples = int(eval_at / step) + 2
        fire, quiet, why = _values(source)
        if isinstance(source, ErrorBudget) and eval_at / file_step > _MAX_EVALUATIONS:
            # promtool evaluates every group up to a case's eval time: a week of the
            # other rules at their seconds interval does not finish in minutes.
            fire = quiet = None
            why = (
                f"its {source.burn_window} burn window is {eval_at / file_step:,.0f} "
                f"evaluations of the other rules at {prom_duration(file_step)}; test it in "
                "a catalog of its own (the rule is the same)"
            )
        for case_name, value in (("firing", fire), ("not firing", quiet)):
            if value is None:
                skipped.append((f"{entry['alert']} {case_name}", why))
                continue
            case = _case(model, source, value, step, span, samples)
            expected: list[dict[str, Any]] = []
            if case_name == "firing":
                expected.append(
                    {
                        "exp_labels": {**case.labels, **entry["labels"]},
                        "exp_annotations": _expanded(model, entry, source, case),
                    }
                )
            tests.append(
                {
                    "name": f"{entry['alert']} {case_name}",
                    "interval": prom_duration(step),
                    "input_series": case.series,
                    "alert_rule_test": [
                        {
                            "eval_time": prom_duration(eval_at),
                            "alertname": entry["alert"],
                            "exp_alerts": expected,
                        }
                    ],
                }
            )
    document = {
        "rule_files": [rule_file],
        "evaluation_interval": prom_duration(file_step),
        "tests": tests,
    }
    return AlertTests(document, skipped)


_MAX_EVALUATIONS = 50_000  # per test case, for every group of the file


def _span(source: DetectionRule | ErrorBudget) -> float:
    """How much history the expression looks at."""
    if isinstance(source, ErrorBudget):
        return seconds(source.burn_window)
    if source.kind == "age":
        return source.threshold or 0.0
    if source.window is not None:
        return seconds(source.window)
    return 0.0


def _interval(sources: list[DetectionRule | ErrorBudget]) -> float:
    """One scrape and evaluation step for the file: 15 s, or finer for short windows
    (a range needs several samples)."""
    spans = [s for s in (_span(src) for src in sources) if s > 0]
    step = min([15.0, *(s / 4 for s in spans)])
    return max(round(step, 3), 0.001)


def _values(source: DetectionRule | ErrorBudget) -> tuple[float | None, float | None, str]:
    """The value the expression should see when firing and when quiet."""
    if isinstance(source, ErrorBudget):
        threshold = source.error_ratio_threshold() or 0.0
        return _pick(">", threshold, cap=1.0)
    assert source.op is not None and source.threshold is not None
    if source.kind == "age":
        # firing: no event at all (increase 0); quiet: events keep coming
        return 0.0, 1.0, ""
    cap = 1.0 if source.kind == "ratio" else None
    return _pick(source.op, source.threshold, cap=cap)


def _pick(
    op: str, threshold: float, *, cap: float | None
) -> tuple[float | None, float | None, str]:
    above = threshold * 2 if threshold > 0 else 1.0
    if cap is not None and above > cap:
        above = (threshold + cap) / 2 if threshold < cap else math.nan
    below = threshold / 2 if threshold > 0 else (0.0 if threshold == 0 else math.nan)
    high, low = (None if math.isnan(above) else above), (None if math.isnan(below) else below)
    if op in (">", ">="):
        fire, quiet = high, low
    else:
        fire, quiet = low, high
    if op == ">=" and threshold <= 0:
        quiet = None
    if op == "<" and threshold <= 0:
        fire = None
    why = f"no input makes `{op} {threshold:g}` " + ("false" if fire is not None else "true")
    return fire, quiet, why


def _concrete(name: str) -> str:
    """A name a glob pattern matches (``kms.*`` -> ``kms.x``)."""
    return name.replace("*", "x").replace("?", "x")


def _case(
    model: CatalogModel,
    source: DetectionRule | ErrorBudget,
    value: float,
    step: float,
    span: float,
    samples: int,
) -> _Case:
    target = _concrete(source.target) if source.target else _FIXTURE_TARGET
    if isinstance(source, ErrorBudget):
        bad = source.event or "attempt.failed"
        of = source.of or ["attempt.started"]
        series = _ratio_series(bad, of, target, {}, value, 100.0, step, span, samples)
        return _Case(series, {}, value)
    rule = source
    if rule.kind == "gauge":
        assert rule.metric is not None
        labels = {**rule.labels, **({"target": target} if rule.target else {})}
        series = [{"series": _selector(rule.metric, labels), "values": f"{value:g}+0x{samples}"}]
        return _Case(series, dict(labels), value)
    assert rule.event is not None
    labels = {**rule.labels, "target": target}
    if rule.kind == "ratio":
        assert rule.of is not None
        total = max(100.0, 2.0 * (rule.min_count or 0))
        series = _ratio_series(
            rule.event, rule.of, target, rule.labels, value, total, step, span, samples
        )
        return _Case(series, {"target": target}, value)
    if rule.kind == "age":
        rise = 0.0 if value == 0 else 1.0
        series = [_counter(rule.event, labels, rise, samples)]
        return _Case(series, {}, 0.0)
    # count: value = increase over the window; rate: value per second
    per_sample = value * step / span if rule.kind == "count" else value * step
    return _Case([_counter(rule.event, labels, per_sample, samples)], {"target": target}, value)


def _ratio_series(
    event: str,
    of: list[str],
    target: str,
    extra: dict[str, str],
    ratio: float,
    total: float,
    step: float,
    span: float,
    samples: int,
) -> list[dict[str, str]]:
    """A numerator series and a denominator series whose rates give ``ratio``; when the
    numerator's events are part of the denominator, the rest makes up the difference."""
    labels = {**extra, "target": target}
    total_step = total * step / span
    bad_step = ratio * total_step
    numerator = _concrete(event)
    counted = any(fnmatchcase(numerator, pattern) for pattern in of)
    others = [_concrete(p) for p in of if _concrete(p) != numerator]
    out = [_counter(numerator, labels, bad_step, samples)]
    rest = total_step - bad_step if counted else total_step
    if others:
        out.append(_counter(others[0], labels, rest, samples))
    return out


def _counter(event: str, labels: dict[str, str], per_sample: float, samples: int) -> dict[str, str]:
    return {
        "series": _selector(EVENTS_TOTAL, {**labels, "event": event}),
        "values": f"{_START:g}+{per_sample:.12g}x{samples}",
    }


def _selector(metric: str, labels: dict[str, str]) -> str:
    if not labels:
        return metric
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return metric + "{" + inner + "}"


def _escape(value: str) -> str:
    return re.sub(r'(["\\])', r"\\\1", value)


def _expanded(
    model: CatalogModel,
    entry: dict[str, Any],
    source: DetectionRule | ErrorBudget,
    case: _Case,
) -> dict[str, str]:
    """The annotations as Prometheus expands them for this case."""
    value = f"{case.value:.4g}"
    if isinstance(source, ErrorBudget):
        expanded = budget_annotations(model, value=value)
    else:
        target = case.labels.get("target", "") if keeps_target(source) else ""
        expanded = rule_annotations(model.service, source, target=target, value=value)
    out = dict(entry["annotations"])
    out.update(expanded)
    return out
