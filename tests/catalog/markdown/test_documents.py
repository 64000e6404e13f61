"""Importing failure-mode documents written in other shapes (examples/documents/).

Each document is written the way another team might: a wide register table, headed
sections with bullets only, a table of breaker thresholds. None of them uses the seeds'
wording, so these tests show the importer reads the shape, not the words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate.catalog.markdown import ImportResult, import_markdown, render_markdown

DOCUMENTS = Path(__file__).resolve().parents[3] / "examples" / "documents"


def load(name: str) -> ImportResult:
    return import_markdown((DOCUMENTS / name).read_text(encoding="utf-8"))


def test_wide_register_table() -> None:
    result = load("payments-register.md")
    catalog = result.catalog
    assert result.unmapped == []
    assert catalog.service == "payments-api"
    assert catalog.title == "Payments API: failure register"
    assert catalog.owner == "payments platform team"
    assert catalog.description is not None
    fms = catalog.failure_modes
    assert [fm.id for fm in fms] == [f"payments-api.fm.p-0{n}" for n in range(1, 5)]
    first = fms[0]
    assert first.title == "Card network unreachable"
    assert first.trigger == "Acquirer endpoint times out or refuses TLS"
    assert first.automatic_mitigation is not None
    assert first.automatic_mitigation.startswith("Breaker on the acquirer")  # "Containment"
    assert first.runbook == "ops/runbooks/acquirer-down.md"
    assert first.severity == "sev1"
    assert first.details == {"RTO": "30 min"}
    assert [fm.details["RTO"] for fm in fms] == ["30 min", "15 min", "10 min", "1 h"]


def test_wide_register_detection_rules() -> None:
    rules = {rule.id: rule for rule in load("payments-register.md").catalog.detection_rules}
    capture = rules["payments-api.rule.p-01"]
    assert (capture.kind, capture.threshold, capture.window) == ("ratio", 0.15, "2 min")
    locks = rules["payments-api.rule.p-02"]
    assert (locks.kind, locks.threshold, locks.sustained) == ("gauge", 0.2, "5 min")
    webhooks = rules["payments-api.rule.p-03"]
    assert (webhooks.kind, webhooks.event, webhooks.threshold) == (
        "count",
        "webhook.received",
        5000.0,
    )
    rates = rules["payments-api.rule.p-04"]
    assert (rates.kind, rates.threshold) == ("age", 900.0)


def test_wide_register_policies_fallbacks_and_game_days() -> None:
    catalog = load("payments-register.md").catalog
    capture = catalog.policies["acquirer.capture"].retry
    assert capture is not None
    # an "Attempts" column counts the first call: 4 attempts = 3 retries
    assert (capture.max, capture.backoff, capture.budget) == (3, "200ms, 1s, 5s", "10s")
    ledger = catalog.policies["ledger.write"].retry
    assert ledger is not None and (ledger.max, ledger.backoff) == (2, "exp 20ms–500ms")
    assert [(f.primary, f.user_sees) for f in catalog.fallbacks] == [
        ("Live FX rates", 'A "rates delayed" banner'),
        ("Instant capture", "Payment shown as pending"),
    ]
    outage, latency = catalog.experiments
    assert (outage.fault, outage.target, outage.duration, outage.when) == (
        "outage",
        "acquirer",
        "5 min",
        "during checkout",
    )
    assert (latency.fault, latency.target, latency.latency, latency.duration) == (
        "latency",
        "ledger",
        "800ms",
        "10 min",
    )


def test_headed_sections_with_bullets_only() -> None:
    result = load("search-runbook.md")
    catalog = result.catalog
    assert result.unmapped == []
    assert catalog.service == "search"
    assert catalog.title == "Search service: what can go wrong"
    shard, ranking, parser = catalog.failure_modes
    assert [fm.id for fm in catalog.failure_modes] == ["search.fm.1", "search.fm.2", "search.fm.3"]
    assert shard.symptom and shard.detection and shard.blast_radius
    assert shard.manual_mitigation is not None and shard.manual_mitigation.startswith("promote")
    assert (shard.runbook, shard.severity) == ("runbooks/search/shard-down.md", "sev2")
    # "Contain:" followed by indented steps keeps both steps
    assert ranking.automatic_mitigation is not None
    assert ranking.automatic_mitigation.count("\n") == 1
    assert parser.trigger is not None and parser.runbook is None
    rules = {rule.id: rule for rule in catalog.detection_rules}
    assert (rules["search.rule.3"].kind, rules["search.rule.3"].threshold) == ("count", 50.0)


def test_bullet_policies_fallbacks_and_numbered_principles() -> None:
    catalog = load("search-runbook.md").catalog
    shard = catalog.policies["shard.query"].retry
    assert shard is not None and (shard.max, shard.backoff, shard.budget) == (
        2,
        "50ms, 100ms",
        "400ms",
    )
    breaker = catalog.policies["ranking.server"].breaker
    assert breaker is not None
    assert (breaker.failures, breaker.window, breaker.reset) == (20, "10s", "30s")
    assert [(f.fallback, f.user_sees) for f in catalog.fallbacks] == [
        ("lexical results", "no ranking badge"),
        ("cached suggestions", None),
    ]
    assert [p.id for p in catalog.principles] == ["search.principle.1", "search.principle.2"]


def test_breaker_threshold_table() -> None:
    result = load("gateway-breakers.md")
    catalog = result.catalog
    assert result.unmapped == []
    breakers = {target: policy.breaker for target, policy in catalog.policies.items()}
    accounts = breakers["accounts"]
    assert accounts is not None
    assert (accounts.failures, accounts.window, accounts.reset, accounts.half_open_probes) == (
        10,
        "30s",
        "45s",
        2,
    )
    orders = breakers["orders"]
    assert orders is not None and (orders.failures, orders.window, orders.reset) == (
        25,
        "1 min",
        "2 min",
    )
    rate = breakers["recommendations"]
    assert rate is not None and (rate.failure_rate, rate.window, rate.reset) == (
        0.5,
        "1 min",
        "20s",
    )
    search = breakers["search"]
    assert search is not None and (search.failures, search.reset) == (5, "15s")
    timeouts = {target: policy.timeout for target, policy in catalog.policies.items()}
    assert timeouts == {
        "accounts": "800ms",
        "orders": "2s",
        "recommendations": "300ms",
        "search": None,
    }


@pytest.mark.parametrize("path", sorted(DOCUMENTS.glob("*.md")), ids=lambda p: p.name)
def test_example_documents_round_trip(path: Path) -> None:
    catalog = import_markdown(path.read_text(encoding="utf-8")).catalog
    assert catalog.failure_modes or catalog.policies
    again = import_markdown(render_markdown(catalog))
    assert again.unmapped == []
    assert again.catalog == catalog
