"""The theme catalog: loads, lints without errors, lists only the rows built so far, and
its rendered document and runbooks are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import lint_file
from mitigate.catalog.markdown import render_markdown

SERVICE = Path(__file__).resolve().parents[3] / "services" / "theme"
CATALOG = SERVICE / "catalog.yaml"
ROWS = [
    "theme.fm.2.1",
    "theme.fm.2.2",
    "theme.fm.2.3",
    "theme.fm.2.4",
    "theme.fm.2.5",
    "theme.fm.2.6",
    "theme.fm.2.7",
    "theme.fm.2.8",
    "theme.fm.2.9",
    "theme.fm.2.10",
    "theme.fm.2.11",
    "theme.fm.2.12",
    "theme.fm.2.13",
    "theme.fm.2.14",
    "theme.fm.2.15",
    "theme.fm.2.16",
    "theme.fm.2.17",
    "theme.fm.2.18",
    "theme.fm.2.19",
    "theme.fm.2.20",
    "theme.fm.2.21",
    "theme.fm.2.22",
    "theme.fm.2.23",
    "theme.fm.2.24",
]


@pytest.fixture(scope="module")
def catalog() -> mitigate.Catalog:
    return mitigate.Catalog.load(CATALOG, clock=mitigate.VirtualClock())


def test_lint_has_no_errors() -> None:
    errors = [f for f in lint_file(CATALOG) if f.level == "error"]
    assert errors == []


def test_failure_modes_document_is_up_to_date(catalog: mitigate.Catalog) -> None:
    rendered = render_markdown(catalog)
    committed = (SERVICE / "FAILURE_MODES.md").read_text()
    assert committed == rendered, (
        "services/theme/FAILURE_MODES.md is stale: run "
        "`uv run mitigate catalog render services/theme/catalog.yaml "
        "--out services/theme/FAILURE_MODES.md`"
    )


def test_rows_are_the_built_ones_each_with_an_experiment(catalog: mitigate.Catalog) -> None:
    assert [fm.id for fm in catalog.model.failure_modes] == ROWS
    for row in ROWS:
        assert (
            SERVICE / "experiments" / f"{row.removeprefix('theme.').replace('.', '_')}.py"
        ).exists()


def test_every_row_names_a_detection_rule_and_a_mitigation(catalog: mitigate.Catalog) -> None:
    rules = {r.id for r in catalog.model.detection_rules}
    switches = {s.id for s in catalog.model.switches} | set(catalog.model.policies)
    for fm in catalog.model.failure_modes:
        assert fm.detection_rules and set(fm.detection_rules) <= rules, fm.id
        assert fm.mitigated_by and set(fm.mitigated_by) <= switches, fm.id


def test_every_runbook_exists_and_follows_the_platform_format(catalog: mitigate.Catalog) -> None:
    paths = {fm.runbook for fm in catalog.model.failure_modes if fm.runbook}
    assert paths == {
        "runbooks/sev1-stored-xss.md",
        "runbooks/publish-conflict.md",
        "runbooks/cdn-invalidation.md",
        "runbooks/ai-degradation.md",
        "runbooks/sev3-ai-prompt-injection.md",
        "runbooks/scale-ceiling.md",
        "runbooks/sev3-preview-leak.md",
        "runbooks/sev2-bundle-integrity.md",
        "runbooks/sev1-gcs-misconfig.md",
        "runbooks/memorystore-degradation.md",
        "runbooks/inbox-dlq.md",
        "runbooks/onboarding-degraded.md",
        "runbooks/outbox-backlog.md",
        "runbooks/db-failover.md",
        "runbooks/sev1-cross-tenant.md",
    }
    for path in paths:
        text = (SERVICE / str(path)).read_text()
        sections = ["## Detection signals", "## First 5 minutes", "## Diagnosis"]
        sections += ["## Mitigation", "## Prevention"]
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions), path


def test_open_numbers_are_set_and_match_the_settings(catalog: mitigate.Catalog) -> None:
    from services.theme.settings import ThemeSettings

    details = catalog.failure_mode("theme.fm.2.4").details
    defaults = ThemeSettings()
    assert mitigate.parse_duration(details["orphan age"]) == defaults.orphan_age
    assert mitigate.parse_duration(details["orphan sweep every"]) == defaults.orphan_sweep_every
    upload = catalog.model.policies["bundle.upload"]
    assert upload.timeout == "10s" and details["upload timeout"] == "10s"


def test_the_purge_schedule_keeps_the_seed_numbers(catalog: mitigate.Catalog) -> None:
    from services.theme.invalidation import DELAYS, MAX_ATTEMPTS

    details = catalog.failure_mode("theme.fm.2.6").details
    assert int(details["attempts"]) == MAX_ATTEMPTS == 6
    assert int(details["alert after failed attempts"]) == 3
    assert catalog.model.policies["cdn.purge"].timeout == "10s"
    listed = [mitigate.parse_duration(d) for d in details["delays between attempts"].split(",")]
    assert tuple(listed) == DELAYS and len(DELAYS) == MAX_ATTEMPTS - 1
    # Every attempt hanging to its 10 s cut still ends inside 5 minutes.
    assert MAX_ATTEMPTS * 10 + sum(DELAYS) <= 300
    rule = next(r for r in catalog.model.detection_rules if r.id == "theme.rule.purge-failing")
    assert (rule.op, rule.threshold) == (">=", 3)


def test_the_budget_keeps_the_seed_numbers(catalog: mitigate.Catalog) -> None:
    from services.theme.themes import BUDGET_BYTES

    details = catalog.failure_mode("theme.fm.2.23").details
    assert int(details["budget bytes"]) == BUDGET_BYTES == 40 * 1024
    rule = next(r for r in catalog.model.detection_rules if r.id == "theme.rule.budget-persistent")
    assert (rule.op, rule.threshold, mitigate.parse_duration(str(rule.window))) == (">", 5, 86400)


def test_preview_limits_keep_the_seed_numbers(catalog: mitigate.Catalog) -> None:
    from services.theme.settings import ThemeSettings

    details = catalog.failure_mode("theme.fm.2.13").details
    defaults = ThemeSettings()
    assert details["per token hash"] == f"{defaults.preview_per_token_rpm}/min" == "60/min"
    assert details["per tenant"] == f"{defaults.preview_per_tenant_rpm}/min" == "600/min"
    assert details["block after failures"] == f"{defaults.preview_block_after} in 1 min"
    assert mitigate.parse_duration(details["block duration"]) == defaults.preview_block_for
