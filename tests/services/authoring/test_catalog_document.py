"""The authoring catalog: lints without errors, keeps the seed's numbers, and its rendered
document and runbooks are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import lint_file
from mitigate.catalog.markdown import render_markdown

SERVICE = Path(__file__).resolve().parents[3] / "services" / "authoring"
CATALOG = SERVICE / "catalog.yaml"


@pytest.fixture(scope="module")
def catalog() -> mitigate.Catalog:
    return mitigate.Catalog.load(CATALOG, clock=mitigate.VirtualClock())


def test_lint_has_no_errors() -> None:
    assert [f for f in lint_file(CATALOG) if f.level == "error"] == []


def test_failure_modes_document_is_up_to_date(catalog: mitigate.Catalog) -> None:
    committed = (SERVICE / "FAILURE_MODES.md").read_text()
    assert committed == render_markdown(catalog), (
        "services/authoring/FAILURE_MODES.md is stale: run `uv run mitigate catalog render "
        "services/authoring/catalog.yaml --out services/authoring/FAILURE_MODES.md`"
    )


def test_every_runbook_exists_and_follows_the_platform_format(catalog: mitigate.Catalog) -> None:
    paths = {fm.runbook for fm in catalog.model.failure_modes}
    assert None not in paths
    for path in [*paths, "runbooks/publish-saga.md"]:
        text = (SERVICE / str(path)).read_text()
        sections = ["## Detection signals", "## First 5 minutes", "## Diagnosis"]
        sections += ["## Mitigation", "## Prevention"]
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions), path


def test_seed_numbers(catalog: mitigate.Catalog) -> None:
    media = catalog.model.policies["media.check"]
    assert media.retry is not None and media.retry.id == "authoring.retry.3"
    assert media.retry.max == 3
    assert media.breaker is not None and media.breaker.id == "authoring.breaker.2"
    for name in ("catalog.register", "content.bundle"):
        breaker = catalog.model.policies[name].breaker
        assert breaker is not None


def test_every_row_has_its_experiment(catalog: mitigate.Catalog) -> None:
    rows = [fm.id for fm in catalog.model.failure_modes]
    for policy in catalog.model.policies.values():
        for part in (policy.retry, policy.breaker):
            if part is not None and part.id:
                rows.append(part.id)
    for row in rows:
        module = row.removeprefix("authoring.").replace(".", "_")
        assert (SERVICE / "experiments" / f"{module}.py").is_file(), row
