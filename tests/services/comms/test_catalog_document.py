"""The comms catalog: loads, lints without errors, keeps the seed's numbers, lists only
rows that have an experiment, and its rendered document and runbooks are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import lint_file
from mitigate.catalog.markdown import render_markdown

SERVICE = Path(__file__).resolve().parents[3] / "services" / "comms"
CATALOG = SERVICE / "catalog.yaml"


@pytest.fixture(scope="module")
def catalog() -> mitigate.Catalog:
    return mitigate.Catalog.load(CATALOG, clock=mitigate.VirtualClock())


def test_lint_has_no_errors() -> None:
    assert [f for f in lint_file(CATALOG) if f.level == "error"] == []


def test_failure_modes_document_is_up_to_date(catalog: mitigate.Catalog) -> None:
    committed = (SERVICE / "FAILURE_MODES.md").read_text()
    assert committed == render_markdown(catalog), (
        "services/comms/FAILURE_MODES.md is stale: run `uv run mitigate catalog render "
        "services/comms/catalog.yaml --out services/comms/FAILURE_MODES.md`"
    )


def test_every_row_has_its_experiment_and_runbook(catalog: mitigate.Catalog) -> None:
    for fm in catalog.model.failure_modes:
        kind, number = fm.id.removeprefix("comms.").rsplit(".", 1)
        assert (kind, int(number) <= 20) in {("fm", True), ("budget", True)}, fm.id
        assert (SERVICE / "experiments" / f"{kind}_{number}.py").is_file(), fm.id
        assert fm.runbook is not None and fm.detection_rules, fm.id
        text = (SERVICE / fm.runbook).read_text()
        sections = ["## Detection signals", "## First 5 minutes", "## Diagnosis"]
        sections += ["## Mitigation", "## Prevention"]
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions), fm.runbook


def test_sms_error_rate_rule_keeps_the_seed_numbers(catalog: mitigate.Catalog) -> None:
    rule = next(r for r in catalog.model.detection_rules if r.id == "comms.rule.sms-error-rate")
    assert (rule.kind, rule.op, rule.threshold) == ("ratio", ">", 0.2)  # > 20 %
    assert mitigate.parse_duration(str(rule.window)) == 300  # 5 min
    assert rule.signal == "per-adapter error rate > 20% 5 min"


def test_open_numbers_are_set_and_noted(catalog: mitigate.Catalog) -> None:
    sms = catalog.failure_mode("comms.fm.1").details
    assert "retry schedule" in sms and "choice" in sms
    primary = catalog.model.policies["sms.primary"]
    assert primary.retry is not None and primary.retry.backoff == "1s, 5s, 15s"
    assert primary.timeout == "5s"


def test_error_budget_policy_keeps_the_seed_numbers(catalog: mitigate.Catalog) -> None:
    budget = catalog.model.error_budget
    assert budget is not None
    assert mitigate.parse_duration(str(budget.window)) == 30 * 86400  # 30-day budget
    assert mitigate.parse_duration(str(budget.burn_window)) == 7 * 86400  # any 7-day window
    assert budget.burn_threshold == 0.5  # > 50 %
    rule = next(r for r in catalog.model.detection_rules if r.id == "comms.rule.budget-burn")
    assert (rule.kind, rule.op, rule.threshold) == ("gauge", ">", 0.5)
