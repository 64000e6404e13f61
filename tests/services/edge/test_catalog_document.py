"""The edge catalog: loads, lints without errors, keeps the seed's numbers, and its
rendered document and runbooks are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import lint_file
from mitigate.catalog.markdown import render_markdown

SERVICE = Path(__file__).resolve().parents[3] / "services" / "edge"
CATALOG = SERVICE / "catalog.yaml"


@pytest.fixture(scope="module")
def catalog() -> mitigate.Catalog:
    return mitigate.Catalog.load(CATALOG, clock=mitigate.VirtualClock())


def test_lint_has_no_errors() -> None:
    assert [f for f in lint_file(CATALOG) if f.level == "error"] == []


def test_failure_modes_document_is_up_to_date(catalog: mitigate.Catalog) -> None:
    committed = (SERVICE / "FAILURE_MODES.md").read_text()
    assert committed == render_markdown(catalog), (
        "services/edge/FAILURE_MODES.md is stale: run `uv run mitigate catalog render "
        "services/edge/catalog.yaml --out services/edge/FAILURE_MODES.md`"
    )


def test_every_row_has_its_experiment_and_runbook(catalog: mitigate.Catalog) -> None:
    for fm in catalog.model.failure_modes:
        module = fm.id.removeprefix("edge.").replace(".", "_")
        assert (SERVICE / "experiments" / f"{module}.py").exists(), fm.id
        assert fm.detection_rules, fm.id
        text = (SERVICE / str(fm.runbook)).read_text()
        sections = ["## Detection signals", "## First 5 minutes", "## Diagnosis"]
        sections += ["## Mitigation", "## Prevention"]
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions), fm.runbook


def test_the_seed_principles_each_have_their_experiment(catalog: mitigate.Catalog) -> None:
    principles = catalog.model.principles
    assert [p.id for p in principles] == [f"edge.principle.{n}" for n in range(1, 5)]
    for principle in principles:
        assert principle.mitigated_by and principle.source, principle.id
        module = str(principle.id).removeprefix("edge.").replace(".", "_")
        assert (SERVICE / "experiments" / f"{module}.py").exists(), principle.id
