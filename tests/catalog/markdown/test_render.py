"""Rendering a catalog to FAILURE_MODES.md and reading it back: import(render(c)) == c."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mitigate.catalog.markdown import import_markdown, layout, render_markdown, render_runbook_index
from mitigate.catalog.model import (
    BreakerSpec,
    BulkheadSpec,
    CatalogModel,
    DetectionRule,
    ErrorBudget,
    Experiment,
    FailureMode,
    FallbackSpec,
    PolicySpec,
    Principle,
    RateLimitSpec,
    RetrySpec,
    Switch,
)

REPO = Path(__file__).resolve().parents[3]
CATALOGS = sorted({*REPO.glob("examples/**/*.yaml"), *REPO.glob("services/**/catalog.yaml")})


def round_trip(catalog: CatalogModel) -> CatalogModel:
    result = import_markdown(render_markdown(catalog))
    assert result.unmapped == []
    return result.catalog


def test_the_repository_has_catalogs_to_check() -> None:
    assert CATALOGS, "no catalog YAML found under examples/ or services/"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_catalog_in_the_repository_round_trips(path: Path) -> None:
    catalog = CatalogModel.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert round_trip(catalog) == catalog


KITCHEN_SINK: dict[str, Any] = {
    "service": "shop",
    "title": "Shop: failure modes",
    "description": "Line one | with a pipe\nline two",
    "owner": "shop team",
    "source": "docs/FAILURE_MODES.md",
    "defaults": {"retry": {"base": "100ms", "factor": 3.0, "jitter": "full"}},
    "principles": [
        {
            "id": "shop.principle.1",
            "title": "Fail closed",
            "text": "Deny on doubt.",
            "mitigated_by": ["shop.guard.1", "pay.capture"],
            "detection_rules": ["shop.rule.1"],
            "experiments": ["shop.chaos.2"],
            "source": "line 2",
        },
        {"title": "No id here"},
    ],
    "policies": {
        "pay.capture": {
            "description": "Capture a payment.",
            "timeout": 0.8,
            "fallback": "shop.fallback.1",
            "source": "line 3",
            "retry": {
                "id": "shop.retry.1",
                "max": 3,
                "backoff": "exp cap 2s",
                "budget": "5s",
                "base": "50ms",
                "factor": 2.5,
                "jitter": "decorrelated",
                "honor_retry_after": False,
                "description": "d",
                "source": "line 4",
            },
            "breaker": {
                "id": "shop.breaker.1",
                "failures": 5,
                "window": 30,
                "reset": "1 min",
                "failure_rate": 0.5,
                "slow_call_rate": 0.25,
                "slow_call_duration": "2s",
                "window_calls": 100,
                "minimum_calls": 20,
                "half_open_probes": 2,
                "successes_to_close": 3,
                "description": "b",
                "source": "line 5",
            },
            "bulkhead": {"id": "shop.bulkhead.1", "max_concurrent": 10, "max_queued": 0},
            "rate_limit": {
                "id": "shop.ratelimit.1",
                "limit": "60/min",
                "burst": 5,
                "algorithm": "gcra",
            },
        },
        "stock.read": {
            "retry": {"max_retries": 2, "schedule": [0.1, "250ms", 2], "budget": "30s"},
            "rate_limit": {"rate": 10.0, "per": 1.5},
        },
        "audit.write": {"description": "only a description"},
        "notify.send": {},
    },
    "switches": [
        {"id": "shop.guard.1", "description": "refuse a capture | twice for one order"},
        {"id": "shop.dedupe.1"},
    ],
    "fallbacks": [
        {
            "id": "shop.fallback.1",
            "primary": "Live prices",
            "fallback": "Cached prices",
            "user_sees": "a 'prices may be stale' note",
            "policy": "pay.capture",
            "value": {"currency": "EUR", "items": [1, 2], "note": "a|b"},
            "max_age": "1h",
            "description": "x",
            "source": "line 9",
        },
        {"id": "shop.fallback.2", "primary": "P", "fallback": "F", "value": 0},
    ],
    "detection_rules": [
        {
            "id": "shop.rule.1",
            "signal": "error rate > 20% over 5 min",
            "kind": "ratio",
            "event": "attempt.failed",
            "of": ["attempt.started"],
            "target": "pay.capture",
            "labels": {"status": "error"},
            "op": ">",
            "threshold": 0.2,
            "window": "5 min",
            "sustained": "1 min",
            "min_count": 10,
            "severity": "critical",
            "runbook": "runbooks/pay.md",
            "description": "capture errors",
        },
        {
            "id": "shop.rule.2",
            "signal": "queue depth <= 3",
            "kind": "gauge",
            "metric": "queue_depth",
            "op": "<=",
            "threshold": 3,
        },
        {"id": "shop.rule.3", "signal": "prose only", "of": []},
    ],
    "failure_modes": [
        {
            "id": "shop.fm.1",
            "title": "Card network down",
            "category": "payments",
            "trigger": "acquirer times out",
            "symptom": "captures fail",
            "detection": "error rate > 20% over 5 min",
            "detection_rules": ["shop.rule.1"],
            "blast_radius": "all checkouts",
            "user_impact": "payment pending",
            "automatic_mitigation": "retry with backoff\nqueue the capture",
            "mitigated_by": ["pay.capture", "shop.retry.1", "shop.fallback.1", "shop.guard.1"],
            "manual_mitigation": "switch acquirer; see runbooks/pay.md",
            "runbook": "runbooks/pay.md",
            "experiments": ["shop.chaos.1"],
            "severity": "sev1",
            "accepted_risk": "none",
            "details": {"RTO": "30 min", "Owner team": "payments"},
            "source": "line 20",
        },
        {"id": "shop.fm.2", "title": "2.1 Numbered-looking title"},
        {"id": "shop.fm.3", "title": "Weird: details", "details": {"a: b": "c", "": "empty"}},
        {"id": "shop.fm.4", "title": "Multi\nline", "trigger": "  padded? no", "symptom": ""},
        {"id": "shop.fm.5", "title": "C#", "automatic_mitigation": "- a dash\n1. a number"},
    ],
    "experiments": [
        {
            "id": "shop.chaos.1",
            "title": "Acquirer outage",
            "fault": "outage",
            "target": "pay.capture",
            "duration": "5 min",
            "when": "mid-checkout",
            "verify": ["captures queued", "no double charge", ""],
            "failure_modes": ["shop.fm.1"],
            "source": "line 30",
            "description": "game day",
        },
        {
            "id": "shop.chaos.2",
            "title": "Split",
            "fault": "partition",
            "target": "shop",
            "peer": "ledger",
            "rate": 0.1,
            "latency": 0.25,
            "principles": ["shop.principle.1"],
        },
    ],
    "runbooks": [
        {"path": "runbooks/pay.md", "title": "Payments"},
        {"path": "runbooks/no-title.md"},
        {"path": "runbooks/odd (copy).md", "title": "Odd [one]"},
    ],
    "error_budget": {
        "id": "shop.budget.1",
        "slo": "checkout success",
        "objective": 0.999,
        "window": "30d",
        "burn_threshold": 0.5,
        "burn_window": "7d",
        "action": "freeze releases",
        "source": "line 40",
    },
}


def test_every_field_of_the_model_round_trips() -> None:
    catalog = CatalogModel.model_validate(KITCHEN_SINK)
    assert round_trip(catalog) == catalog


def test_an_empty_catalog_round_trips() -> None:
    catalog = CatalogModel(service="empty")
    assert round_trip(catalog) == catalog


# Each layout lists the model fields it writes; a field added to the model later must be
# added to the layout too, or this test says which one is missing.
COVERAGE: list[tuple[type[Any], tuple[layout.Column, ...], set[str]]] = [
    (FailureMode, layout.FAILURE_BULLETS, {"details"}),
    (Experiment, layout.EXPERIMENT_BULLETS, {"verify"}),
    (ErrorBudget, layout.BUDGET_BULLETS, set()),
    (RetrySpec, layout.RETRY_COLUMNS, set()),
    (BreakerSpec, layout.BREAKER_COLUMNS, set()),
    (BulkheadSpec, layout.BULKHEAD_COLUMNS, set()),
    (RateLimitSpec, layout.RATE_LIMIT_COLUMNS, set()),
    (FallbackSpec, layout.FALLBACK_COLUMNS, set()),
    (DetectionRule, layout.RULE_COLUMNS, set()),
    (Principle, layout.PRINCIPLE_COLUMNS, set()),
    (Switch, layout.SWITCH_COLUMNS, set()),
    (PolicySpec, layout.POLICY_COLUMNS, {"retry", "breaker", "bulkhead", "rate_limit"}),
]


@pytest.mark.parametrize(
    ("model", "columns", "special"), COVERAGE, ids=lambda v: getattr(v, "__name__", "")
)
def test_the_layout_covers_every_model_field(
    model: type[Any], columns: tuple[layout.Column, ...], special: set[str]
) -> None:
    written = {column.field for column in columns} | special
    assert set(model.model_fields) <= written


def test_catalog_level_fields_are_covered() -> None:
    sections = {"principles", "policies", "fallbacks", "detection_rules", "failure_modes",
                "experiments", "runbooks", "error_budget", "version", "switches",
                "metrics"}  # fmt: skip
    written = {column.field for column in layout.META_BULLETS} | sections
    assert set(CatalogModel.model_fields) <= written


_TEXT = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(lambda s: bool(s) and "<br" not in s.lower())
)
_LINES = st.lists(_TEXT, min_size=1, max_size=3).map("\n".join)


@settings(max_examples=150, deadline=None)
@given(title=_TEXT, trigger=_LINES, mitigation=_LINES, detail=_TEXT, verify=_TEXT)
def test_free_text_survives_the_round_trip(
    title: str, trigger: str, mitigation: str, detail: str, verify: str
) -> None:
    catalog = CatalogModel.model_validate(
        {
            "service": "prop",
            "failure_modes": [
                {
                    "id": "prop.fm.1",
                    "title": title,
                    "trigger": trigger,
                    "automatic_mitigation": mitigation,
                    "details": {"Note": detail},
                }
            ],
            "experiments": [
                {"id": "prop.chaos.1", "title": title, "fault": "custom", "verify": [verify]}
            ],
            "fallbacks": [{"id": "prop.fallback.1", "primary": title, "fallback": trigger}],
            "principles": [{"title": title, "text": mitigation}],
        }
    )
    assert round_trip(catalog) == catalog


def test_rendered_document_reads_well() -> None:
    catalog = CatalogModel.model_validate(KITCHEN_SINK)
    text = render_markdown(catalog)
    assert text.startswith(layout.MARKER + "\n# Shop: failure modes\n")
    assert "### Card network down\n- Id: `shop.fm.1`" in text
    assert "- Mitigated by: `pay.capture`, `shop.retry.1`, `shop.fallback.1`" in text
    # the retry table says what Max counts, and keeps the notation as written
    retry_section = text[text.index("### Retry / backoff") :]
    assert "**Max** counts retries after the first attempt" in retry_section
    assert "| `pay.capture` | `shop.retry.1` | 3 | exp cap 2s | 5s |" in retry_section
    assert "- Automatic mitigation:\n  - retry with backoff\n  - queue the capture" in text


def test_runbook_index_lists_what_points_at_each_runbook() -> None:
    catalog = CatalogModel.model_validate(KITCHEN_SINK)
    index = render_runbook_index(catalog)
    assert index.startswith("# Runbook index: shop\n")
    row = next(line for line in index.splitlines() if line.startswith("| `runbooks/pay.md`"))
    assert "Payments" in row and "`shop.fm.1` Card network down" in row and "`shop.rule.1`" in row
    assert "| `runbooks/no-title.md` |  |  |" in index


def test_render_accepts_a_loaded_catalog_object() -> None:
    class Loaded:
        model = CatalogModel(service="wrapped")

    assert "`wrapped`" in render_markdown(Loaded())
    with pytest.raises(TypeError):
        render_markdown({"service": "not a model"})


def test_a_rendered_document_stating_no_valid_catalog_is_an_import_error() -> None:
    # found by bench/fuzz.py: a pydantic ValidationError escaped import_markdown
    from mitigate.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        import_markdown("<!-- mitigate:catalog v1 -->\n")
    assert caught.value.code == "MITIGATE.CONFIG.IMPORT"
    assert "service: Field required" in caught.value.message
