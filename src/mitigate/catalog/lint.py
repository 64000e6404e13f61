"""Lint a catalog: what is wrong (errors) and what is missing (warnings), with file:line.

Codes are stable; ``--ignore CODE`` on the command line leaves one out.

===========================  =======  ==================================================
code                         level    finding
===========================  =======  ==================================================
``yaml``                     error    the file is not valid YAML, or uses an alias, or
                                      is too large or too deeply nested to read
``too-large``                error    a number or duration beyond any sensible value
``schema``                   error    a value has the wrong type or bad notation
``unknown-field``            error    a field the schema does not know (a typo)
``duplicate-key``            error    a YAML key given twice in one mapping
``duplicate-id``             error    two entries share an id
``unknown-ref``              error    a reference to an undefined policy, rule, experiment...
``policy-invalid``           error    a policy cannot be built (e.g. "exp cap" with no base)
``retry-over-budget``        error    the retry schedule cannot fit its budget
``breaker-reset-short``      error    a breaker stays open for less than its window
``metric-unknown``           error    a rule reads a metric neither mitigate nor the
                                      catalog's ``metrics:`` list exports
``fm-no-detection``          warning  a failure mode has no detection rule
``fm-no-mitigation``         warning  a failure mode names no policy, fallback or switch
``fm-no-runbook``            warning  a failure mode has no runbook
``fm-no-experiment``         warning  no experiment exercises a failure mode
``principle-no-experiment``  warning  no experiment proves a principle
``rule-not-evaluable``       warning  a detection rule is text only
``fallback-unattached``      warning  a fallback and its policy do not point at each other
``runbook-unindexed``        warning  a runbook path is missing from the runbook index
``budget-not-evaluable``     warning  the error-budget policy gives no objective
===========================  =======  ==================================================

>>> from mitigate.catalog.model import CatalogModel
>>> model = CatalogModel.model_validate({"service": "s", "failure_modes": [
...     {"id": "s.fm.1", "title": "Disk full", "runbook": "runbooks/disk.md"}]})
>>> [f.code for f in lint_model(model)]
['fm-no-detection', 'fm-no-mitigation', 'fm-no-experiment']

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mitigate.catalog.check import Locator, check_references
from mitigate.catalog.findings import CatalogError, Finding
from mitigate.catalog.model import CatalogModel
from mitigate.catalog.source import SourceDoc, read_catalog
from mitigate.errors import ConfigError

__all__ = ["CODES", "lint_file", "lint_model", "metric_findings", "policy_findings"]

CODES = (
    "yaml",
    "too-large",
    "schema",
    "unknown-field",
    "duplicate-key",
    "duplicate-id",
    "unknown-ref",
    "policy-invalid",
    "retry-over-budget",
    "breaker-reset-short",
    "metric-unknown",
    "fm-no-detection",
    "fm-no-mitigation",
    "fm-no-runbook",
    "fm-no-experiment",
    "principle-no-experiment",
    "rule-not-evaluable",
    "fallback-unattached",
    "runbook-unindexed",
    "budget-not-evaluable",
)


def lint_file(path: str | Path, *, ignore: Iterable[str] = ()) -> list[Finding]:
    """Every finding for the catalog at ``path``, schema problems included."""
    try:
        doc, model, findings = read_catalog(path)
    except CatalogError as exc:  # unreadable file or invalid YAML
        return _keep(exc.findings, ignore)
    if model is not None:
        findings += lint_model(model, doc)
    return _keep(findings, ignore)


def lint_model(model: CatalogModel, doc: SourceDoc | None = None) -> list[Finding]:
    """Findings for a valid model: references, policies, then completeness."""
    findings = check_references(model, doc)
    findings += policy_findings(model, Locator(doc))
    findings += metric_findings(model, Locator(doc))
    findings += _completeness(model, Locator(doc))
    return findings


def _keep(findings: list[Finding], ignore: Iterable[str]) -> list[Finding]:
    skip = set(ignore)
    return [f for f in findings if f.code not in skip]


def policy_findings(model: CatalogModel, at: Locator) -> list[Finding]:
    """Policies that cannot be built, retries over budget, breakers that reset early."""
    # Imported here: the CLI's other commands need no policy classes.
    from mitigate.catalog.build import build_breaker, build_retry

    out: list[Finding] = []
    for target, policy in model.policies.items():
        if policy.retry is not None:
            loc = ("policies", target, "retry")
            try:
                retry = build_retry(policy.retry, model.defaults, target)
            except ConfigError as exc:
                out.append(at.finding("policy-invalid", "error", _reason(exc), loc))
            else:
                delays = retry.delays()
                if retry.budget is not None and sum(delays) > retry.budget:
                    out.append(
                        at.finding(
                            "retry-over-budget",
                            "error",
                            _over_budget(delays, retry.budget),
                            (*loc, "budget"),
                        )
                    )
        if policy.breaker is not None:
            loc = ("policies", target, "breaker")
            try:
                breaker = build_breaker(policy.breaker)
            except ConfigError as exc:
                out.append(at.finding("policy-invalid", "error", _reason(exc), loc))
            else:
                if breaker.reset < breaker.window:
                    out.append(
                        at.finding(
                            "breaker-reset-short",
                            "error",
                            f"reset {breaker.reset:g}s is shorter than the {breaker.window:g}s "
                            "window: the breaker half-opens while the failures that opened it "
                            "still count",
                            (*loc, "reset"),
                        )
                    )
    return out


_SAMPLE_SUFFIXES = {
    "counter": ("", "_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def metric_findings(model: CatalogModel, at: Locator) -> list[Finding]:
    """Rules reading a metric nobody exports: the alert would never fire."""
    # Imported here: linting needs no Prometheus client unless a rule names a metric.
    from mitigate.observe.metrics import exported_metric_names

    known = set(exported_metric_names())
    for spec in model.metrics:
        known.update(spec.name + suffix for suffix in _SAMPLE_SUFFIXES[spec.type])
    out: list[Finding] = []
    for index, rule in enumerate(model.detection_rules):
        if rule.metric is None or rule.metric in known:
            continue
        out.append(
            at.finding(
                "metric-unknown",
                "error",
                f"{rule.id} reads {rule.metric}, which mitigate does not export "
                "(mitigate_events_total, mitigate_breaker_open, ...) and the catalog does "
                "not declare; list it under `metrics:` (name, type, description) if the "
                "service exports it, or fix the name",
                ("detection_rules", index, "metric"),
            )
        )
    return out


def _over_budget(delays: tuple[float, ...], budget: float) -> str:
    waited, fits = 0.0, 0
    for delay in delays:
        if waited + delay > budget:
            break
        waited += delay
        fits += 1
    lost = len(delays) - fits
    return (
        f"the waits alone add up to {sum(delays):g}s, over the {budget:g}s budget: "
        f"the last {lost} of {len(delays)} retries can never start; "
        "lower max, shorten the backoff or raise the budget"
    )


def _completeness(model: CatalogModel, at: Locator) -> list[Finding]:
    out: list[Finding] = []
    exercised = {mode for e in model.experiments for mode in e.failure_modes}
    indexed = {r.path for r in model.runbooks}
    for index, mode in enumerate(model.failure_modes):
        loc = ("failure_modes", index)
        if not mode.detection_rules:
            why = (
                "its detection is described but no detection rule evaluates it"
                if mode.detection
                else "nothing detects it"
            )
            out.append(at.finding("fm-no-detection", "warning", f"{mode.id}: {why}", loc))
        if not mode.mitigated_by:
            why = (
                "its automatic mitigation names no policy, fallback or switch"
                if mode.automatic_mitigation
                else "no automatic mitigation"
            )
            out.append(at.finding("fm-no-mitigation", "warning", f"{mode.id}: {why}", loc))
        if not mode.runbook:
            out.append(at.finding("fm-no-runbook", "warning", f"{mode.id}: no runbook", loc))
        elif indexed and mode.runbook not in indexed:
            out.append(
                at.finding(
                    "runbook-unindexed",
                    "warning",
                    f"{mode.runbook} is not in the runbook index",
                    (*loc, "runbook"),
                )
            )
        if not mode.experiments and mode.id not in exercised:
            out.append(
                at.finding(
                    "fm-no-experiment",
                    "warning",
                    f"{mode.id}: no experiment proves its mitigation",
                    loc,
                )
            )
    out += _principles_untested(model, at)
    for index, rule in enumerate(model.detection_rules):
        if rule.kind is None:
            out.append(
                at.finding(
                    "rule-not-evaluable",
                    "warning",
                    f"{rule.id}: text only; give kind, event or metric, op, threshold "
                    "(and window) so it can run and be exported",
                    ("detection_rules", index),
                )
            )
    budget = model.error_budget
    if budget is not None and budget.objective is None:
        out.append(
            at.finding(
                "budget-not-evaluable",
                "warning",
                f"{budget.id or 'error budget'}: no objective (e.g. 0.999), so its burn rate "
                "cannot be measured or alerted on",
                ("error_budget",),
            )
        )
    for index, fallback in enumerate(model.fallbacks):
        policy = model.policies.get(fallback.policy) if fallback.policy else None
        if policy is not None and policy.fallback != fallback.id:
            out.append(
                at.finding(
                    "fallback-unattached",
                    "warning",
                    f"{fallback.id} names policy {fallback.policy!r}, whose fallback is "
                    f"{policy.fallback!r}",
                    ("fallbacks", index, "policy"),
                )
            )
    for target, spec in model.policies.items():
        if spec.fallback is None:
            continue
        owner = next((f for f in model.fallbacks if f.id == spec.fallback), None)
        if owner is not None and owner.policy not in (None, target):
            out.append(
                at.finding(
                    "fallback-unattached",
                    "warning",
                    f"{target} uses {owner.id}, which names policy {owner.policy!r}",
                    ("policies", target, "fallback"),
                )
            )
    return out


def _principles_untested(model: CatalogModel, at: Locator) -> list[Finding]:
    # Lint sees the catalog only: a Python experiment with the principle's id (one
    # namespace: no catalog entry can share it) is seen by verify, not here.
    named = {p for e in model.experiments for p in e.principles}
    out: list[Finding] = []
    for index, principle in enumerate(model.principles):
        if principle.experiments or (principle.id is not None and principle.id in named):
            continue
        out.append(
            at.finding(
                "principle-no-experiment",
                "warning",
                f"{principle.id or principle.title}: no experiment proves it "
                "(verify reports it untested)",
                ("principles", index),
            )
        )
    return out


def _reason(exc: ConfigError) -> str:
    return exc.message + (f"; {exc.hint}" if exc.hint else "")
