"""Alert names say what fires; for:, severity and annotations come from the catalog."""

from __future__ import annotations

import re
from typing import Any

from mitigate.catalog.alerts import SEVERITY, alert_rules
from mitigate.catalog.model import CatalogModel

VALID = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def rule(rule_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": rule_id, "signal": fields.pop("signal", "s"), **fields}


def alerts(rules: list[dict[str, Any]], **catalog: Any) -> list[dict[str, Any]]:
    model = CatalogModel.model_validate({"service": "content", "detection_rules": rules, **catalog})
    out = alert_rules(model)
    return list(out.groups[0]["rules"]) if out.groups else []


KMS = rule(
    "content.rule.1",
    signal="KMS breaker opened",
    kind="count",
    event="breaker.opened",
    target="kms.*",
    op=">",
    threshold=0,
    window=60,
    sustained=120,
    severity="critical",
)


def test_the_name_says_service_target_and_condition_not_the_rule_number() -> None:
    [kms] = alerts([KMS])
    assert kms["alert"] == "ContentKmsBreakerOpened"
    assert "Rule" not in kms["alert"]


def test_names_are_unique_and_valid_even_when_two_rules_say_the_same() -> None:
    twin = {**KMS, "id": "content.rule.kms-again"}
    third = {**KMS, "id": "content.rule.kms-again2"}
    names = [a["alert"] for a in alerts([KMS, twin, third])]
    assert len(set(names)) == 3
    assert names[0] == "ContentKmsBreakerOpened"
    assert names[1] == "ContentKmsBreakerOpenedKmsAgain"
    assert all(VALID.match(n) for n in names)


def test_a_service_starting_with_a_digit_still_gives_a_valid_name() -> None:
    model = CatalogModel.model_validate({"service": "3d-viewer", "detection_rules": [KMS]})
    [entry] = alert_rules(model).groups[0]["rules"]
    assert VALID.match(entry["alert"]), entry["alert"]


def test_condition_words_per_kind() -> None:
    rules = [
        rule("r.ratio", kind="ratio", event="attempt.failed", of=["attempt.started"],
             target="sms.send", op=">", threshold=0.2, window=300),
        rule("r.rate", kind="rate", event="attempt.succeeded", op="<", threshold=1, window=60),
        rule("r.age", kind="age", event="push.feedback", op=">", threshold=600),
        rule("r.gauge", kind="gauge", metric="content_revocations_pending", op=">", threshold=0),
    ]  # fmt: skip
    names = [a["alert"] for a in alerts(rules, metrics=[{"name": "content_revocations_pending"}])]
    assert names == [
        "ContentSmsSendAttemptFailedRatioHigh",
        "ContentAttemptSucceededRateLow",
        "ContentPushFeedbackStale",
        "ContentRevocationsPendingHigh",
    ]


def test_for_comes_from_sustained_and_severity_is_mapped() -> None:
    [kms] = alerts([KMS])
    assert kms["for"] == "2m"
    assert kms["labels"]["severity"] == SEVERITY["critical"] == "critical"
    [quick] = alerts([{**KMS, "sustained": None, "severity": "error"}])
    assert "for" not in quick
    assert quick["labels"]["severity"] == "page"


def test_annotations_template_the_target_and_value_and_link_the_runbook() -> None:
    model = CatalogModel.model_validate(
        {
            "service": "content",
            "detection_rules": [{**KMS, "description": "KMS calls are failing fast"}],
            "failure_modes": [
                {"id": "content.fm.1", "title": "KMS down", "detection_rules": ["content.rule.1"],
                 "runbook": "runbooks/kms.md"}
            ],
        }
    )  # fmt: skip
    based = alert_rules(model, runbook_base="https://git.example.com/ops/")
    ann = based.groups[0]["rules"][0]["annotations"]
    assert ann["summary"] == "content: KMS breaker opened on {{ $labels.target }}"
    assert "{{ $value" in ann["description"]
    assert ann["description"].startswith("KMS calls are failing fast.")
    assert ann["runbook_url"] == "https://git.example.com/ops/runbooks/kms.md"
    plain = alert_rules(model).groups[0]["rules"][0]["annotations"]
    assert plain["runbook_url"] == "runbooks/kms.md"
