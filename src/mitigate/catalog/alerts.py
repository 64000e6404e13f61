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

from mitigate.catalog.model import CatalogModel, DetectionRule, ErrorBudget, seconds

__all__ = [
    "EVENTS_TOTAL",
    "SEVERITY",
    "AlertRules",
    "alert_name",
    "alert_rules",
    "budget_annotations",
    "budget_interval",
    "keeps_target",
    "prom_duration",
    "rule_alert_name",
    "rule_annotations",
]

# The counter mitigate's Prometheus observer exports (see observe/metrics.py).
EVENTS_TOTAL = "mitigate_events_total"
# Catalog severity -> the ``severity`` label Alertmanager routes on (docs/catalog.md).
SEVERITY = {"critical": "critical", "error": "page", "warning": "warning", "info": "info"}
_ALERT_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(slots=True)
class AlertRules:
    """The rule groups (Prometheus rule-file shape) and the rules left out, with why."""

    groups: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sources: dict[str, DetectionRule | ErrorBudget] = field(default_factory=dict)
    """What each alert was made from (by alert name), for the promtool test fixtures."""

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            {"groups": self.groups}, sort_keys=False, allow_unicode=True, width=100
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "skipped": [{"rule": rule, "reason": reason} for rule, reason in self.skipped],
        }


def alert_rules(model: CatalogModel, *, runbook_base: str | None = None) -> AlertRules:
    """One alerting rule per evaluable detection rule, in one group per service.

    ``runbook_base`` (``https://git.example.com/ops/-/blob/main/``) is put before runbook
    paths that are not URLs already, for the ``runbook_url`` annotation.
    """
    rules: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    sources: dict[str, DetectionRule | ErrorBudget] = {}
    taken: set[str] = set()
    modes_by_rule: dict[str, list[str]] = {}
    for mode in model.failure_modes:
        for rule_id in mode.detection_rules:
            modes_by_rule.setdefault(rule_id, []).append(mode.id)
    for rule in model.detection_rules:
        expr, reason = _expression(rule)
        if expr is None:
            skipped.append((rule.id, reason))
            continue
        name = _unique(rule_alert_name(model.service, rule), rule.id, taken)
        entry: dict[str, Any] = {"alert": name, "expr": expr}
        if rule.sustained is not None and seconds(rule.sustained) > 0:
            entry["for"] = prom_duration(seconds(rule.sustained))
        entry["labels"] = {
            "severity": SEVERITY[rule.severity],
            "service": model.service,
            "rule_id": rule.id,
        }
        annotations = rule_annotations(
            model.service, rule, target=_TARGET_TEMPLATE, value=_VALUE_TEMPLATE
        )
        if modes_by_rule.get(rule.id):
            annotations["failure_modes"] = ", ".join(modes_by_rule[rule.id])
        runbook = rule.runbook or _runbook(model, modes_by_rule.get(rule.id, []))
        if runbook:
            annotations["runbook_url"] = _runbook_url(runbook, runbook_base)
        entry["annotations"] = annotations
        rules.append(entry)
        sources[name] = rule
    groups: list[dict[str, Any]] = []
    if rules:
        groups.append({"name": f"mitigate-{model.service}", "rules": rules})
    budget = _budget_rule(model, taken)
    if budget is not None and model.error_budget is not None:
        # A burn over days is evaluated every few minutes, not at the scrape interval:
        # its own group, with its own interval.
        groups.append(
            {
                "name": f"mitigate-{model.service}-error-budget",
                "interval": prom_duration(budget_interval(model.error_budget)),
                "rules": [budget],
            }
        )
        sources[budget["alert"]] = model.error_budget
    elif model.error_budget is not None:
        skipped.append(
            (model.error_budget.id or "error_budget", "no objective: the burn rate needs one")
        )
    return AlertRules(groups, skipped, sources)


def budget_interval(budget: ErrorBudget) -> float:
    """How often the burn alert is evaluated: 672 times over its window (every 15 min for
    a week), never more often than once a minute."""
    return max(60.0, seconds(budget.burn_window) / 672)


# Annotations are Go templates expanded per alert; the test fixtures expand them the
# same way with the values they feed in.
_TARGET_TEMPLATE = "{{ $labels.target }}"
_VALUE_TEMPLATE = '{{ $value | printf "%.4g" }}'


def keeps_target(rule: DetectionRule) -> bool:
    """Whether the alert's series carry a ``target`` label (to name it in the summary)."""
    if rule.kind in ("count", "rate", "ratio"):
        return True
    return rule.kind == "gauge" and rule.target is not None


def rule_annotations(
    service: str, rule: DetectionRule, *, target: str, value: str
) -> dict[str, str]:
    """``summary`` and ``description`` of a rule's alert, with the target and value given
    as templates (in the rule file) or as the values a fixture expects."""
    where = f" on {target}" if keeps_target(rule) else ""
    condition = f"{rule.op} {rule.threshold:g}"
    if rule.kind in ("count", "rate", "ratio") and rule.window is not None:
        condition += f" over {prom_duration(seconds(rule.window))}"
    if rule.kind == "age":
        condition = f"no {rule.event} for {prom_duration(rule.threshold or 0)}"
    return {
        "summary": f"{service}: {rule.signal}{where}",
        "description": f"{rule.description or rule.signal}. Value {value} ({condition}).",
    }


def budget_annotations(model: CatalogModel, *, value: str) -> dict[str, str]:
    """``summary`` and ``description`` of the error-budget burn alert."""
    budget = model.error_budget
    assert budget is not None
    summary = (
        f"{model.service}: {budget.burn_threshold:.0%} of the {budget.window} error budget "
        f"of {budget.slo} burnt within {budget.burn_window}"
    )
    return {
        "summary": summary,
        "description": f"Error ratio {value} over {budget.burn_window}; {budget.action}",
    }


def _runbook_url(runbook: str, base: str | None) -> str:
    if base is None or "://" in runbook:
        return runbook
    return base.rstrip("/") + "/" + runbook.lstrip("/")


def _budget_rule(model: CatalogModel, taken: set[str]) -> dict[str, Any] | None:
    budget = model.error_budget
    threshold = budget.error_ratio_threshold() if budget is not None else None
    if budget is None or threshold is None:
        return None
    span = prom_duration(seconds(budget.burn_window))
    bad = _event_matchers([budget.event or "attempt.failed"], budget.target)
    total = _event_matchers(budget.of or ["attempt.started"], budget.target)
    rule_id = budget.id or f"{model.service}.error-budget"
    return {
        "alert": _unique(_camel([model.service, "error", "budget", "burn"]), rule_id, taken),
        "expr": f"sum(rate({bad}[{span}])) / sum(rate({total}[{span}])) > {threshold:.6g}",
        "labels": {
            "severity": SEVERITY[budget.severity],
            "service": model.service,
            "rule_id": rule_id,
        },
        "annotations": budget_annotations(model, value=_VALUE_TEMPLATE),
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


def rule_alert_name(service: str, rule: DetectionRule) -> str:
    """What fires, from the service, the target and the condition.

    >>> from mitigate.catalog.model import DetectionRule as R
    >>> rule_alert_name("content", R(id="content.rule.1", signal="kms breaker opens",
    ...     kind="count", event="breaker.opened", target="kms.*", op=">", threshold=0,
    ...     window=60))
    'ContentKmsBreakerOpened'
    >>> rule_alert_name("comms", R(id="r", signal="error rate", kind="ratio",
    ...     event="attempt.failed", of=["attempt.started"], target="sms.send", op=">",
    ...     threshold=0.2, window=300))
    'CommsSmsSendAttemptFailedRatioHigh'
    >>> rule_alert_name("content", R(id="r", signal="lag", kind="gauge",
    ...     metric="content_outbox_lag_seconds", op=">", threshold=30))
    'ContentOutboxLagSecondsHigh'
    """
    words: list[str] = [service]
    if rule.target:
        words += _words(rule.target)
    high = rule.op in (">", ">=")
    if rule.kind == "gauge" and rule.metric is not None:
        metric = rule.metric
        for prefix in (f"{service}_", "mitigate_"):
            metric = metric.removeprefix(prefix)
        words += [*_words(metric), "high" if high else "low"]
    else:
        words += _words(rule.event or "")
        if rule.kind == "gauge":
            words += [*_words(rule.field or ""), "high" if high else "low"]
        elif rule.kind == "rate":
            words += ["rate", "high" if high else "low"]
        elif rule.kind == "ratio":
            words += ["ratio", "high" if high else "low"]
        elif rule.kind == "age":
            words += ["stale"]
        elif not high:
            words += ["low"]
    return _camel(words)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def _camel(words: list[str]) -> str:
    out: list[str] = []
    for word in words:
        for part in _words(word):
            if not out or out[-1].lower() != part.lower():  # "kms" + "kms.sign": once
                out.append(part)
    name = "".join(w[:1].upper() + w[1:] for w in out) or "Alert"
    return name if _ALERT_NAME.match(name) else "Alert" + name


def _unique(name: str, rule_id: str, taken: set[str]) -> str:
    """``name``, or with the rule id's last part (then a number) when already used."""
    candidate = name
    if candidate in taken:
        candidate = name + _camel([rule_id.rsplit(".", 1)[-1]])
    number = 2
    base = candidate
    while candidate in taken:
        candidate, number = f"{base}{number}", number + 1
    taken.add(candidate)
    return candidate


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
