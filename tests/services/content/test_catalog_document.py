"""The content catalog: loads, lints without errors, keeps the seed's numbers, sets the
numbers the seed leaves open, and its rendered document and runbooks are in place."""

from __future__ import annotations

from pathlib import Path

import pytest

import mitigate
from mitigate.catalog import lint_file
from mitigate.catalog.markdown import render_markdown

SERVICE = Path(__file__).resolve().parents[3] / "services" / "content"
CATALOG = SERVICE / "catalog.yaml"


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
        "services/content/FAILURE_MODES.md is stale: run "
        "`uv run mitigate catalog render services/content/catalog.yaml "
        "--out services/content/FAILURE_MODES.md`"
    )


def test_every_runbook_exists_and_follows_the_platform_format(catalog: mitigate.Catalog) -> None:
    paths = {fm.runbook for fm in catalog.model.failure_modes}
    assert len(paths) == 10 and None not in paths
    for path in paths:
        text = (SERVICE / str(path)).read_text()
        sections = ["## Detection signals", "## First 5 minutes", "## Diagnosis"]
        sections += ["## Mitigation", "## Prevention"]
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions), path


def test_rows_and_ids_match_the_seed(catalog: mitigate.Catalog) -> None:
    model = catalog.model
    assert [fm.id for fm in model.failure_modes] == [f"content.fm.1.{n}" for n in range(1, 11)]
    assert [f.id for f in model.fallbacks] == [f"content.fallback.{n}" for n in range(1, 5)]
    assert [e.id for e in model.experiments] == [f"content.chaos.{n}" for n in range(1, 5)]
    retries = {p.retry.id: p.retry for p in model.policies.values() if p.retry and p.retry.id}
    assert sorted(retries) == [f"content.retry.{n}" for n in range(1, 6)]
    breakers = {
        p.breaker.id: p.breaker for p in model.policies.values() if p.breaker and p.breaker.id
    }
    assert sorted(breakers) == [f"content.breaker.{n}" for n in range(1, 4)]


@pytest.mark.parametrize(
    ("row", "max_", "backoff", "budget"),
    [
        ("content.retry.1", 3, "50ms, 200ms, 500ms", "1s"),
        ("content.retry.2", 5, "exp 100ms–10s", "30s"),
        ("content.retry.3", 3, "500ms, 2s, 5s", "10s"),
        ("content.retry.4", 5, "exp cap 30s", "15 min"),
        ("content.retry.5", 5, "exp cap 60s", "10 min"),
    ],
)
def test_retry_rows_keep_the_seed_numbers(
    catalog: mitigate.Catalog, row: str, max_: int, backoff: str, budget: str
) -> None:
    spec = next(p.retry for p in catalog.model.policies.values() if p.retry and p.retry.id == row)
    assert (spec.max, spec.backoff, spec.budget) == (max_, backoff, budget)


@pytest.mark.parametrize(
    ("row", "trip"),
    [
        ("content.breaker.1", "10 fail / 30s"),
        ("content.breaker.2", "10 fail / 30s"),
        ("content.breaker.3", "5 fail / 30s"),
    ],
)
def test_breaker_rows_keep_the_seed_numbers(catalog: mitigate.Catalog, row: str, trip: str) -> None:
    spec = next(
        p.breaker for p in catalog.model.policies.values() if p.breaker and p.breaker.id == row
    )
    assert (spec.trip, spec.reset) == (trip, "60s")


def test_open_points_are_set(catalog: mitigate.Catalog) -> None:
    tamper = catalog.failure_mode("content.fm.1.3").details
    assert int(tamper["tamper repeat threshold"]) >= 2
    assert mitigate.parse_duration(tamper["tamper repeat window"]) == 30 * 86_400
    caps = catalog.failure_mode("content.fm.1.8").details
    assert {"size cap free", "size cap standard", "size cap enterprise"} <= set(caps)
    assert catalog.model.defaults is not None and catalog.model.defaults.retry is not None
    assert catalog.model.defaults.retry.base == "4s"  # 4+8+16+30+30 s outlast the 60 s breaker
    register = catalog.model.policies["catalog.register"]
    assert register.retry is not None and register.retry.budget == "45s"
    assert catalog.failure_mode("content.fm.1.5").accepted_risk


def test_publish_step_retries_outlast_the_open_kms_breaker(catalog: mitigate.Catalog) -> None:
    clock = mitigate.VirtualClock()
    recorder = mitigate.Recorder()
    fresh = mitigate.Catalog.load(CATALOG, clock=clock, observers=[recorder])
    step = fresh.policy("publish.step")
    calls = []

    def always_down() -> None:
        calls.append(clock.now())
        raise ConnectionError("kms down")

    with pytest.raises(ConnectionError):
        step.call(always_down)
    waited = sum(recorder.values("retry.scheduled", "delay"))
    assert len(calls) == 6 and waited > 60
