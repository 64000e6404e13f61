"""The catalog schema: types, notation, unknown fields, JSON Schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mitigate.catalog.model import (
    CatalogModel,
    DetectionRule,
    ErrorBudget,
    RateLimitSpec,
    RetrySpec,
    parse_limit,
    seconds,
)
from mitigate.errors import ConfigError


def test_durations_are_kept_as_written_and_read_in_seconds() -> None:
    spec = RetrySpec(max=3, backoff="50ms, 200ms, 500ms", budget="1s")
    assert spec.budget == "1s" and seconds(spec.budget) == 1.0
    assert RetrySpec(max_retries=2, schedule=[0.5, "2s"], budget=10).schedule == [0.5, "2s"]
    assert seconds("15 min") == 900.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max": 3, "backoff": "50ms, soon", "budget": "1s"}, "soon"),
        ({"max": 3, "backoff": "1s", "budget": "whenever"}, "whenever"),
        ({"max": 3, "backoff": "1s", "max_retries": 3}, "either in table notation"),
        ({"backoff": "1s"}, "backoff needs max"),
        ({"max_retries": 2, "schedule": [1], "base": 1}, "schedule or an exponential base"),
        ({"max_retries": -1}, "greater than or equal to 0"),
        ({"max_retries": 1, "jitter": "lots"}, "'none', 'full' or 'decorrelated'"),
        ({"max_retries": 1, "timeout": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_retries_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RetrySpec.model_validate(data)


def test_breaker_notation_is_checked() -> None:
    model = CatalogModel.model_validate(
        {
            "service": "s",
            "policies": {"kms": {"breaker": {"trip": "10 fail / 30s", "reset": "60s"}}},
        }
    )
    assert model.policies["kms"].breaker is not None
    with pytest.raises(ValidationError, match="breaker"):
        CatalogModel.model_validate(
            {"service": "s", "policies": {"kms": {"breaker": {"trip": "often", "reset": "60s"}}}}
        )
    with pytest.raises(ValidationError, match="not both"):
        CatalogModel.model_validate(
            {
                "service": "s",
                "policies": {"kms": {"breaker": {"trip": "5 / 30s", "failures": 5, "window": 30}}},
            }
        )


def test_rate_limits_in_both_forms() -> None:
    assert RateLimitSpec(limit="60/min").permits() == (60.0, 60.0)
    assert RateLimitSpec(rate=600, per="1m", burst=10).permits() == (600.0, 60.0)
    assert RateLimitSpec(rate=5).permits() == (5.0, 1.0)
    with pytest.raises(ValidationError, match="not a rate limit"):
        RateLimitSpec(limit="lots")
    with pytest.raises(ValidationError, match="needs limit"):
        RateLimitSpec()
    with pytest.raises(ConfigError, match="zero period"):
        parse_limit("5/0s")


def test_thresholds_read_percent_and_grouped_numbers() -> None:
    def rule(threshold: object) -> DetectionRule:
        return DetectionRule(
            id="r", signal="x", kind="gauge", metric="m", op=">", threshold=threshold
        )

    assert rule("20%").threshold == 0.2
    assert rule("1 000").threshold == 1000.0
    assert rule("10x").threshold == 10.0
    assert rule("30 s").threshold == 30.0
    assert rule(5).threshold == 5.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "ratio", "event": "a", "op": ">", "threshold": 0.1, "window": 60}, "needs of"),
        ({"kind": "count", "op": ">", "threshold": 1}, "needs event, window"),
        ({"kind": "gauge", "op": ">", "threshold": 1}, r"needs metric \(or event \+ field\)"),
        ({"kind": "gauge", "event": "e", "op": ">", "threshold": 1}, "needs field"),
        ({"kind": "age", "event": "e"}, "needs op, threshold"),
        ({"kind": "count", "event": "e", "op": "=", "threshold": 1, "window": 1}, "'>'"),
    ],
)
def test_incomplete_rules_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DetectionRule.model_validate({"id": "r", "signal": "s", **data})


def test_a_rule_without_kind_is_documentation() -> None:
    assert DetectionRule(id="r", signal="relay liveness fails").kind is None


def test_names_are_lower_case_words() -> None:
    with pytest.raises(ValidationError, match="not a valid name"):
        CatalogModel.model_validate({"service": "Content Service"})
    with pytest.raises(ValidationError, match="not a valid name"):
        CatalogModel.model_validate({"service": "s", "policies": {"KMS sign": {}}})


def test_error_budget() -> None:
    budget = ErrorBudget(
        slo="send latency or dispatch success",
        window="30d",
        burn_threshold="50%",
        burn_window="7d",
        action="freeze adapter changes",
    )
    assert budget.burn_threshold == 0.5
    assert seconds(budget.window) == 30 * 86400.0


def test_unknown_top_level_field_is_an_error() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        CatalogModel.model_validate({"service": "s", "polices": {}})


def test_json_schema_is_strict_and_documented() -> None:
    schema = CatalogModel.model_json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["service"]
    retry = schema["$defs"]["RetrySpec"]
    assert retry["additionalProperties"] is False
    assert "retries after the first attempt" in retry["properties"]["max"]["description"]
    assert set(schema["properties"]) == {
        "version",
        "service",
        "title",
        "description",
        "owner",
        "source",
        "defaults",
        "principles",
        "policies",
        "fallbacks",
        "switches",
        "detection_rules",
        "failure_modes",
        "experiments",
        "runbooks",
        "error_budget",
        "metrics",
        "real_time",
    }
