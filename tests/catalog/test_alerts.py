"""Prometheus alert rules from detection rules; promtool checks them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mitigate.catalog.alerts import alert_rules, prom_duration
from mitigate.catalog.model import CatalogModel

RULES = {
    "service": "comms",
    "failure_modes": [
        {
            "id": "comms.fm.1",
            "title": "SMS provider outage",
            "detection_rules": ["comms.rule.sms"],
            "runbook": "runbooks/comms/sms.md",
        },
    ],
    "detection_rules": [
        {
            "id": "comms.rule.sms",
            "signal": "per-adapter error rate > 20% 5 min",
            "kind": "ratio",
            "event": "attempt.failed",
            "of": ["attempt.started"],
            "op": ">",
            "threshold": "20%",
            "window": 300,
            "min_count": 20,
            "severity": "error",
        },
        {
            "id": "comms.rule.rooms",
            "signal": "virtual_session.failed count > 5 in 5 min",
            "kind": "count",
            "event": "virtual_session.failed",
            "op": ">",
            "threshold": 5,
            "window": 300,
            "target": "video.*",
        },
        {
            "id": "comms.rule.feedback",
            "signal": "feedback age > 10 min",
            "kind": "age",
            "event": "push.feedback",
            "op": ">",
            "threshold": 600,
        },
        {
            "id": "comms.rule.lag",
            "signal": "lag > 30 s",
            "kind": "gauge",
            "metric": "comms_outbox_lag_seconds",
            "op": ">",
            "threshold": 30,
            "sustained": 120,
            "labels": {"stream": "events"},
        },
        {
            "id": "comms.rule.dlr",
            "signal": "DLR callbacks per second",
            "kind": "rate",
            "event": "dlr.*",
            "op": ">",
            "threshold": 50,
            "window": 60,
        },
        {
            "id": "comms.rule.slow",
            "signal": "slow attempts",
            "kind": "gauge",
            "event": "attempt.failed",
            "field": "duration",
            "op": ">",
            "threshold": 2,
        },
        {"id": "comms.rule.liveness", "signal": "relay liveness fails"},
    ],
}


def rules_by_alert() -> dict[str, dict[str, object]]:
    out = alert_rules(CatalogModel.model_validate(RULES))
    return {r["alert"]: r for r in out.groups[0]["rules"]}


def test_one_alert_per_evaluable_rule_with_labels_and_annotations() -> None:
    out = alert_rules(CatalogModel.model_validate(RULES))
    assert [g["name"] for g in out.groups] == ["mitigate-comms"]
    assert [r["alert"] for r in out.groups[0]["rules"]] == [
        "CommsAttemptFailedRatioHigh",
        "CommsVideoVirtualSessionFailed",
        "CommsPushFeedbackStale",
        "CommsOutboxLagSecondsHigh",
        "CommsDlrRateHigh",
    ]
    assert out.skipped == [
        ("comms.rule.slow", "gauge read from an event field has no exported metric; give `metric`"),
        ("comms.rule.liveness", "no evaluable condition (documentation only)"),
    ]
    sms = rules_by_alert()["CommsAttemptFailedRatioHigh"]
    assert sms["labels"] == {"severity": "page", "service": "comms", "rule_id": "comms.rule.sms"}
    assert sms["annotations"] == {
        "summary": "comms: per-adapter error rate > 20% 5 min on {{ $labels.target }}",
        "description": "per-adapter error rate > 20% 5 min. "
        'Value {{ $value | printf "%.4g" }} (> 0.2 over 5m).',
        "failure_modes": "comms.fm.1",
        "runbook_url": "runbooks/comms/sms.md",
    }


def test_expressions() -> None:
    rules = rules_by_alert()
    assert rules["CommsAttemptFailedRatioHigh"]["expr"] == (
        '(sum by (target) (rate(mitigate_events_total{event="attempt.failed"}[5m]))\n'
        '  / sum by (target) (rate(mitigate_events_total{event="attempt.started"}[5m]))\n'
        "  > 0.2)\n"
        '  and sum by (target) (increase(mitigate_events_total{event="attempt.started"}[5m])) >= 20'
    )
    assert rules["CommsVideoVirtualSessionFailed"]["expr"] == (
        'sum by (target) (increase(mitigate_events_total{event="virtual_session.failed",'
        'target=~"video\\\\..*"}[5m])) > 5'
    )
    assert rules["CommsPushFeedbackStale"]["expr"] == (
        '(sum(increase(mitigate_events_total{event="push.feedback"}[10m])) or vector(0)) == 0'
    )
    lag = rules["CommsOutboxLagSecondsHigh"]
    assert lag["expr"] == 'comms_outbox_lag_seconds{stream="events"} > 30'
    assert rules["CommsOutboxLagSecondsHigh"]["for"] == "2m"
    assert rules["CommsDlrRateHigh"]["expr"] == (
        'sum by (target) (rate(mitigate_events_total{event=~"dlr\\\\..*"}[1m])) > 50'
    )


def test_prom_durations() -> None:
    assert [prom_duration(s) for s in (0, 1, 30, 60, 300, 5400, 86400, 0.25)] == [
        "0s",
        "1s",
        "30s",
        "1m",
        "5m",
        "1h30m",
        "1d",
        "250ms",
    ]


def promtool() -> str:
    path = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if path is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("promtool is not installed, and CI=true requires it")
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    return path


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    tool = promtool()
    out = alert_rules(CatalogModel.model_validate(RULES))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(out.to_yaml())
    assert yaml.safe_load(rules_file.read_text())["groups"][0]["rules"]
    check = subprocess.run(
        [tool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 5 rules found" in check.stdout + check.stderr


def test_promtool_rejects_a_broken_file(tmp_path: Path) -> None:
    # the check above can fail: promtool really parses the expressions
    tool = promtool()
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m]) >\n")
    check = subprocess.run(
        [tool, "check", "rules", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode != 0
