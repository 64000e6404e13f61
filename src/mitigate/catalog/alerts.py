"""Prometheus alerting rules for a catalog's detection rules.

Rules over events become expressions on the counter mitigate's metrics observer exports,
``mitigate_events_total{target, event}``; gauge rules name their own metric. Rules that
have no Prometheus form (documentation only, or a gauge read from an event field) are
listed as skipped with the reason, never dropped silently.

>>> from mitigate.catalog.model import CatalogModel
>>> model = CatalogModel.model_validate({"service": "comms", "detection_rules": [
...     {"id": "comms.rule.sms", "signal": "error rate > 20% 5 min", "kind": "ratio",
...      "event": "attempt.failed", "of": ["attempt.started"], "op": ">",
...      "threshold": 0.2, "window": 300, "target": "sms.send"}]})
>>> out = alert_rules(model)
>>> print(out.groups[0]["rules"][0]["expr"])
sum by (target) (rate(mitigate_events_total{event="attempt.failed",target="sms.send"}[5m]))
  / sum by (target) (rate(mitigate_events_total{event="attempt.started",target="sms.send"}[5m]))
  > 0.2

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mitigate.catalog.model import CatalogModel, DetectionRule, seconds

__all__ = ["EVENTS_TOTAL", "AlertRules", "alert_name", "alert_rules", "prom_duration"]

# The counter mitigate's Prometheus observer exports (see observe/metrics.py).
EVENTS_TOTAL = "mitigate_events_total"
_SEVERITY = {"critical": "critical", "error": "page", "warning": "warning", "info": "info"}


@dataclass(slots=True)
class AlertRules:
    """The rule groups (Prometheus rule-file shape) and the rules left out, with why."""

    groups: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            {"groups": self.groups}, sort_keys=False, allow_unicode=True, width=100
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "skipped": [{"rule": rule, "reason": reason} for rule, reason in self.skipped],
        }


def alert_rules(model: CatalogModel) -> AlertRules:
    """One alerting rule per evaluable detection rule, in one group per service."""
    rules: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    modes_by_rule: dict[str, list[str]] = {}
    for mode in model.failure_modes:
        for rule_id in mode.detection_rules:
            modes_by_rule.setdefault(rule_id, []).append(mode.id)
    for rule in model.detection_rules:
        expr, reason = _expression(rule)
        if expr is None:
            skipped.append((rule.id, reason))
            continue
        entry: dict[str, Any] = {"alert": alert_name(rule.id), "expr": expr}
        if rule.sustained is not None and seconds(rule.sustained) > 0:
            entry["for"] = prom_duration(seconds(rule.sustained))
        entry["labels"] = {
            "severity": _SEVERITY[rule.severity],
            "service": model.service,
            "rule_id": rule.id,
        }
        annotations = {"summary": rule.signal}
        if rule.description:
            annotations["description"] = rule.description
        if modes_by_rule.get(rule.id):
            annotations["failure_modes"] = ", ".join(modes_by_rule[rule.id])
        runbook = rule.runbook or _runbook(model, modes_by_rule.get(rule.id, []))
        if runbook:
            annotations["runbook"] = runbook
        entry["annotations"] = annotations
        rules.append(entry)
    budget = _budget_rule(model)
    if budget is not None:
        rules.append(budget)
    elif model.error_budget is not None:
        skipped.append(
            (model.error_budget.id or "error_budget", "no objective: the burn rate needs one")
        )
    groups = [{"name": f"mitigate-{model.service}", "rules": rules}] if rules else []
    return AlertRules(groups, skipped)


def _budget_rule(model: CatalogModel) -> dict[str, Any] | None:
    budget = model.error_budget
    threshold = budget.error_ratio_threshold() if budget is not None else None
    if budget is None or threshold is None:
        return None
    span = prom_duration(seconds(budget.burn_window))
    bad = _event_matchers([budget.event or "attempt.failed"], budget.target)
    total = _event_matchers(budget.of or ["attempt.started"], budget.target)
    rule_id = budget.id or f"{model.service}.error-budget"
    return {
        "alert": alert_name(rule_id),
        "expr": f"sum(rate({bad}[{span}])) / sum(rate({total}[{span}])) > {threshold:.6g}",
        "labels": {
            "severity": _SEVERITY[budget.severity],
            "service": model.service,
            "rule_id": rule_id,
        },
        "annotations": {
            "summary": f"{budget.burn_threshold:.0%} of the {budget.window} error budget of "
            f"{budget.slo} burnt within {budget.burn_window}",
            "action": budget.action,
        },
    }


def _runbook(model: CatalogModel, mode_ids: list[str]) -> str | None:
    for mode in model.failure_modes:
        if mode.id in mode_ids and mode.runbook:
            return mode.runbook
    return None


def _expression(rule: DetectionRule) -> tuple[str | None, str]:
    if rule.kind is None or rule.op is None or rule.threshold is None:
        return None, "no evaluable condition (documentation only)"
    threshold = f"{rule.threshold:g}"
    if rule.kind == "gauge":
        if rule.metric is None:
            return None, "gauge read from an event field has no exported metric; give `metric`"
        matchers = _matchers({**rule.labels, **({"target": rule.target} if rule.target else {})})
        return f"{rule.metric}{matchers} {rule.op} {threshold}", ""
    assert rule.event is not None  # DetectionRule validation guarantees it for these kinds
    if rule.kind == "age":
        if rule.op not in (">", ">="):
            return None, "only 'age >' rules have a counter form (no event for that long)"
        span = prom_duration(rule.threshold)
        counted = f"sum(increase({_events(rule, [rule.event])}[{span}]))"
        return f"({counted} or vector(0)) == 0", ""
    assert rule.window is not None
    window = prom_duration(seconds(rule.window))
    numerator = _events(rule, [rule.event])
    if rule.kind == "count":
        return f"sum by (target) (increase({numerator}[{window}])) {rule.op} {threshold}", ""
    if rule.kind == "rate":
        return f"sum by (target) (rate({numerator}[{window}])) {rule.op} {threshold}", ""
    assert rule.of
    denominator = _events(rule, rule.of)
    expr = (
        f"sum by (target) (rate({numerator}[{window}]))\n"
        f"  / sum by (target) (rate({denominator}[{window}]))\n"
        f"  {rule.op} {threshold}"
    )
    if rule.min_count is not None and rule.min_count > 1:
        # judged only with enough traffic, as the in-process rule is
        expr = (
            f"({expr})\n  and sum by (target) (increase({denominator}[{window}]))"
            f" >= {rule.min_count}"
        )
    return expr, ""


def _events(rule: DetectionRule, names: list[str]) -> str:
    return _event_matchers(names, rule.target, rule.labels)


def _event_matchers(
    names: list[str], target: str | None, extra: dict[str, str] | None = None
) -> str:
    labels: dict[str, str] = {}
    if len(names) == 1 and not _is_pattern(names[0]):
        labels["event"] = names[0]
    else:
        labels["event~"] = "|".join(_glob_regex(n) for n in names)
    if target is not None:
        labels["target~" if _is_pattern(target) else "target"] = (
            _glob_regex(target) if _is_pattern(target) else target
        )
    labels.update(extra or {})
    return EVENTS_TOTAL + _matchers(labels)


def _matchers(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    parts = []
    for key, value in labels.items():
        op = "=~" if key.endswith("~") else "="
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key.rstrip("~")}{op}"{escaped}"')
    return "{" + ",".join(parts) + "}"


def _is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?")


def _glob_regex(pattern: str) -> str:
    return re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")


def alert_name(rule_id: str) -> str:
    """A Prometheus-style alert name for a rule id.

    >>> alert_name("content.rule.saga-building")
    'ContentRuleSagaBuilding'
    """
    words = re.split(r"[^A-Za-z0-9]+", rule_id)
    return "".join(w[:1].upper() + w[1:] for w in words if w) or "Alert"


def prom_duration(value: float) -> str:
    """Seconds in Prometheus duration syntax.

    >>> prom_duration(300), prom_duration(90), prom_duration(0.5), prom_duration(86400 * 7)
    ('5m', '1m30s', '500ms', '1w')
    """
    millis = round(value * 1000)
    if millis <= 0:
        return "0s"
    out = ""
    for unit, size in (
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        count, millis = divmod(millis, size)
        if count:
            out += f"{count}{unit}"
    return out
