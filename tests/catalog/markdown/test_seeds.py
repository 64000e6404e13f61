"""Importing the five seed FAILURE_MODES documents (../shared/seeds).

The seeds are not part of the project, so these tests read them from beside the
repository. Without them the tests skip with the reason, and fail when CI=true. No seed
text is copied here: titles are checked against the seed line the importer says they
came from; numbers (retry schedules, thresholds, durations) are requirements and are
written out exactly, as TRACEABILITY.md does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mitigate.catalog.markdown import ImportResult, import_markdown, render_markdown
from mitigate.catalog.model import CatalogModel
from tests.conftest import in_ci

# beside the checkout (../shared/seeds), or where MITIGATE_SEEDS_DIR says (a worktree)
SEEDS = Path(
    os.environ.get("MITIGATE_SEEDS_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "seeds"
)
FILES = {
    "content": "000_2b6aeda33820912c.txt",
    "authoring": "001_5202dadb65ae3cfd.txt",
    "theme": "002_3695adfc2ab2c5e5.txt",
    "comms": "003_6183b4cd83f1fba1.txt",
    "edge": "004_ba2b4a8743ae600b.txt",
}


def seed_text(service: str) -> str:
    path = SEEDS / FILES[service]
    if not path.is_file():
        reason = f"seed document {path} is not available"
        if in_ci():
            pytest.fail(f"{reason}, and CI=true requires it")
        pytest.skip(reason)
    return path.read_text(encoding="utf-8")


def imported(service: str) -> tuple[ImportResult, list[str]]:
    text = seed_text(service)
    return import_markdown(text, service=service), text.splitlines()


def line_of(source: str | None, lines: list[str]) -> str:
    assert source is not None and source.startswith("line ")
    return lines[int(source.split()[1]) - 1]


def policy_rows(catalog: CatalogModel, part: str) -> list[tuple[str, ...]]:
    rows = []
    for policy in catalog.policies.values():
        spec = getattr(policy, part)
        if spec is None:
            continue
        if part == "retry":
            rows.append((spec.id, spec.max, spec.backoff, spec.budget))
        else:
            rows.append((spec.id, spec.trip, spec.reset))
    return sorted(rows, key=lambda row: int(row[0].rsplit(".", 1)[1]))


def check_titles(result: ImportResult, lines: list[str]) -> None:
    """Every failure mode has a title, taken from the line it was read from."""
    for fm in result.catalog.failure_modes:
        assert fm.title
        assert fm.title.lower() in line_of(fm.source, lines).replace("**", "").lower()


# --------------------------------------------------------------------------- content


def test_content_failure_modes() -> None:
    result, lines = imported("content")
    ids = [fm.id for fm in result.catalog.failure_modes]
    assert ids == [f"content.fm.1.{n}" for n in range(1, 11)]
    check_titles(result, lines)
    build = result.catalog.failure_modes[0]
    assert build.runbook == "runbooks/content/build-failures.md"
    assert build.trigger and build.automatic_mitigation
    assert build.automatic_mitigation.count("\n") == 1  # two mitigation steps
    revocation = result.catalog.failure_modes[4]
    assert revocation.accepted_risk is not None and "expiresAt" in revocation.accepted_risk


def test_content_retry_rows_keep_exact_numbers() -> None:
    catalog = imported("content")[0].catalog
    assert policy_rows(catalog, "retry") == [
        ("content.retry.1", 3, "50ms, 200ms, 500ms", "1s"),
        ("content.retry.2", 5, "exp 100ms–10s", "30s"),
        ("content.retry.3", 3, "500ms, 2s, 5s", "10s"),
        ("content.retry.4", 5, "exp cap 30s", "15 min"),
        ("content.retry.5", 5, "exp cap 60s", "10 min"),
    ]
    assert catalog.policies["kms.sign"].retry is not None


def test_content_breaker_rows() -> None:
    catalog = imported("content")[0].catalog
    assert policy_rows(catalog, "breaker") == [
        ("content.breaker.1", "10 fail / 30s", "60s"),
        ("content.breaker.2", "10 fail / 30s", "60s"),
        ("content.breaker.3", "5 fail / 30s", "60s"),
    ]


def test_content_fallbacks_and_what_the_user_sees() -> None:
    result, lines = imported("content")
    fallbacks = result.catalog.fallbacks
    assert [f.id for f in fallbacks] == [f"content.fallback.{n}" for n in range(1, 5)]
    for fallback in fallbacks:
        row = line_of(fallback.source, lines)
        assert fallback.primary in row and fallback.fallback in row
    first = fallbacks[0]
    assert first.user_sees is not None and first.user_sees in line_of(first.source, lines)
    assert ";" not in first.fallback  # "X; learner sees Y" was split


def test_content_chaos_experiments() -> None:
    result, lines = imported("content")
    experiments = result.catalog.experiments
    assert [e.id for e in experiments] == [f"content.chaos.{n}" for n in range(1, 5)]
    summary = [(e.fault, e.target, e.peer, e.duration, e.rate) for e in experiments]
    assert summary == [
        ("outage", "kms", None, "30s", None),
        ("drop", "nats", None, "2 min", 0.1),
        ("corrupt", "s3", None, None, None),
        ("partition", "content", "catalog", "60s", None),
    ]
    assert [e.when is not None for e in experiments] == [True, False, False, True]
    assert experiments[0].when == "mid-publish"
    for experiment in experiments:
        row = line_of(experiment.source, lines)
        assert experiment.title in row
        assert experiment.verify and experiment.verify[0] in row
        assert experiment.when is None or experiment.when in row


def test_content_unmapped_is_only_the_source_note() -> None:
    result, _ = imported("content")
    assert [item.line for item in result.unmapped] == [1, 2, 3]


# --------------------------------------------------------------------------- authoring


def test_authoring_failure_modes_including_the_one_without_heading() -> None:
    result, lines = imported("authoring")
    ids = [fm.id for fm in result.catalog.failure_modes]
    assert ids == [f"authoring.fm.1.{n}" for n in range(1, 9)]
    check_titles(result, lines)
    headless = result.catalog.failure_modes[4]
    assert headless.symptom is not None
    assert headless.title == headless.symptom.rstrip(".")  # drafted from the symptom
    assert result.catalog.failure_modes[3].symptom != headless.symptom


def test_authoring_retry_and_breaker_rows() -> None:
    catalog = imported("authoring")[0].catalog
    assert policy_rows(catalog, "retry") == [
        ("authoring.retry.1", 3, "10ms, 50ms, 200ms", "300ms"),
        ("authoring.retry.2", 2, "1s", "5s"),
        ("authoring.retry.3", 3, "200ms, 1s, 3s", "5s"),
        ("authoring.retry.4", 5, "exp, cap 30s", "15min"),
        ("authoring.retry.5", 3, "5s, 30s, 2m", "10min"),
    ]
    assert policy_rows(catalog, "breaker") == [
        ("authoring.breaker.1", "10 / 30s", "60s"),
        ("authoring.breaker.2", "5 / 30s", "60s"),
        ("authoring.breaker.3", "5 / 30s", "60s"),
        ("authoring.breaker.4", "5 / 30s", "60s"),
    ]


def test_authoring_fallbacks_and_experiments() -> None:
    catalog = imported("authoring")[0].catalog
    assert [f.id for f in catalog.fallbacks] == [f"authoring.fallback.{n}" for n in range(1, 5)]
    summary = [(e.id, e.fault, e.target, e.latency) for e in catalog.experiments]
    assert summary == [
        ("authoring.chaos.1", "kill", "collab", None),
        ("authoring.chaos.2", "error", "publish-saga", None),
        ("authoring.chaos.3", "latency", "ai-gateway", "10s"),
        ("authoring.chaos.4", "failover", "postgres", None),
    ]


# --------------------------------------------------------------------------- theme


def test_theme_failure_modes_from_inline_runs() -> None:
    result, lines = imported("theme")
    fms = result.catalog.failure_modes
    assert [fm.id for fm in fms] == [f"theme.fm.2.{n}" for n in range(1, 25)]
    check_titles(result, lines)
    first = fms[0]
    # "Detection: … - Blast radius: …" on one line became separate fields
    assert first.detection and first.blast_radius and first.user_impact
    assert "Blast radius" not in first.detection
    assert first.runbook == "runbooks/db-failover.md"  # glued to "for" in the seed
    assert first.manual_mitigation is not None and ".md for" in first.manual_mitigation


def test_theme_detection_rules_from_detection_text() -> None:
    catalog = imported("theme")[0].catalog
    rules = {rule.id: rule for rule in catalog.detection_rules}
    redis = rules["theme.rule.2.7"]
    assert (redis.kind, redis.op, redis.threshold, redis.window) == ("ratio", ">", 0.01, "5 min")
    rows = rules["theme.rule.2.8-1"]
    assert (rows.kind, rows.threshold, rows.sustained) == ("gauge", 1000.0, "10 min")
    lag = rules["theme.rule.2.8-2"]
    assert (lag.op, lag.threshold) == (">", 30.0)
    outbox = next(fm for fm in catalog.failure_modes if fm.id == "theme.fm.2.8")
    assert outbox.detection_rules == ["theme.rule.2.8-1", "theme.rule.2.8-2"]


def test_theme_principles_and_runbook_index() -> None:
    catalog = imported("theme")[0].catalog
    assert [p.id for p in catalog.principles] == [f"theme.principle.{n}" for n in range(1, 6)]
    assert all(p.title and p.text for p in catalog.principles)
    paths = [runbook.path for runbook in catalog.runbooks]
    assert len(paths) == 15  # the glued index, split on ".md"
    used = {fm.runbook for fm in catalog.failure_modes if fm.runbook}
    assert used <= set(paths)
    assert all(path.startswith("runbooks/") and path.endswith(".md") for path in paths)


def test_theme_unmapped_lines() -> None:
    result, _ = imported("theme")
    lines = [item.line for item in result.unmapped]
    # the document's sibling list, the category table (header + 8 rows) and its heading,
    # a note under the runbook index, and the references with their heading
    assert lines == [2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 160, 161, 162]


# --------------------------------------------------------------------------- comms


def test_comms_table_rows_become_failure_modes() -> None:
    result, lines = imported("comms")
    fms = result.catalog.failure_modes
    assert [fm.id for fm in fms] == [f"comms.fm.{n}" for n in range(1, 21)]
    check_titles(result, lines)
    assert all(fm.trigger and fm.user_impact and fm.detection for fm in fms)
    assert all(fm.automatic_mitigation for fm in fms)


def test_comms_detection_rules() -> None:
    catalog = imported("comms")[0].catalog
    rules = {rule.id: rule for rule in catalog.detection_rules}
    sms = rules["comms.rule.1"]
    assert (sms.kind, sms.op, sms.threshold, sms.window) == ("ratio", ">", 0.2, "5 min")
    feedback = rules["comms.rule.2"]
    assert (feedback.kind, feedback.threshold) == ("age", 600.0)
    rooms = rules["comms.rule.4"]
    assert (rooms.kind, rooms.event, rooms.threshold, rooms.window) == (
        "count",
        "virtual_session.failed",
        5.0,
        "5 min",
    )
    assert (rules["comms.rule.6"].kind, rules["comms.rule.6"].threshold) == ("gauge", 30.0)
    assert (rules["comms.rule.7"].op, rules["comms.rule.7"].threshold) == ("<", 0.9)
    scan = rules["comms.rule.8"]
    assert (scan.threshold, scan.sustained) == (1000.0, "15 min")
    assert rules["comms.rule.16"].threshold == 0.5


def test_comms_error_budget() -> None:
    result, _ = imported("comms")
    budget = result.catalog.error_budget
    assert budget is not None
    assert (budget.id, budget.window, budget.burn_threshold, budget.burn_window) == (
        "comms.budget.1",
        "30d",
        0.5,
        "7d",
    )
    assert budget.slo and budget.action
    assert [item.line for item in result.unmapped] == [2]


# --------------------------------------------------------------------------- edge


def test_edge_table_rows_with_letters_and_categories() -> None:
    result, lines = imported("edge")
    fms = result.catalog.failure_modes
    expected = ["2.1a", "2.1b", "2.2a", "2.2b", "2.3a", "2.3b", "2.4a", "2.4b", "2.4c",
                "2.5a", "2.5b", "2.6a", "2.6b"]  # fmt: skip
    assert [fm.id for fm in fms] == [f"edge.fm.{n}" for n in expected]
    check_titles(result, lines)
    assert len({fm.category for fm in fms}) == 6
    # "**Mitigation:** …<br>**Response:** …" in one cell became two fields
    assert all(fm.automatic_mitigation and fm.manual_mitigation for fm in fms)
    assert all("Response" not in (fm.automatic_mitigation or "") for fm in fms)


def test_edge_principles() -> None:
    result, _ = imported("edge")
    principles = result.catalog.principles
    assert [p.id for p in principles] == [f"edge.principle.{n}" for n in range(1, 5)]
    assert all(p.title and p.text for p in principles)
    assert result.unmapped == []


# --------------------------------------------------------------------------- all


@pytest.mark.parametrize("service", sorted(FILES))
def test_seed_round_trips_through_render(service: str) -> None:
    catalog = imported(service)[0].catalog
    again = import_markdown(render_markdown(catalog))
    assert again.unmapped == []
    assert again.catalog == catalog


@pytest.mark.parametrize(
    ("service", "count"),
    [("content", 10), ("authoring", 8), ("theme", 24), ("comms", 20), ("edge", 13)],
)
def test_every_failure_mode_is_found(service: str, count: int) -> None:
    assert len(imported(service)[0].catalog.failure_modes) == count
