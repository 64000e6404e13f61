"""The error-budget policy: a burn-rate rule in process and in Prometheus."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mitigate.catalog import Catalog, alert_rules, lint_model
from mitigate.clock import VirtualClock
from mitigate.observe.events import AlertRaised, AttemptFailed, AttemptStarted
from mitigate.observe.observers import Recorder
from tests.catalog.test_alerts import promtool

# comms: "If SLO burns 30-day budget > 50% in any 7-day window, feature freeze".
TEXT = """\
service: comms
error_budget:
  id: comms.budget.1
  slo: send latency or dispatch success
  objective: 0.99
  window: 30d
  burn_threshold: 50%
  burn_window: 7d
  action: feature freeze on new adapter changes
  target: sms.*
"""


def test_burn_threshold_becomes_an_error_ratio(virtual_clock: VirtualClock) -> None:
    alerts = Recorder()
    catalog = Catalog.from_text(TEXT, clock=virtual_clock, observers=[alerts])
    budget = catalog.model.error_budget
    assert budget is not None
    # 0.5 of a 1 % budget over 30 days is spent in 7 days at 0.5 x 0.01 x 30/7 = 2.14 %
    assert budget.error_ratio_threshold() == pytest.approx(0.5 * 0.01 * 30 / 7)
    detector = catalog.detector
    # 1000 calls over two targets (judged together: one objective for the service)
    for i in range(1000):
        detector(AttemptStarted(target="sms.primary" if i % 2 else "sms.backup", at=0.0))
    for _ in range(21):
        detector(AttemptFailed(target="sms.primary", at=0.0))
    assert alerts.events == []  # 2.1 % < 2.14 %
    detector(AttemptFailed(target="sms.backup", at=0.0))
    [alert] = [e for e in alerts.events if isinstance(e, AlertRaised)]
    assert alert.rule == "comms.budget.1"
    assert alert.value == pytest.approx(0.022)
    assert "feature freeze" in alert.message
    # other targets do not count
    detector(AttemptFailed(target="email.send", at=0.0))
    assert detector.value("comms.budget.1") == pytest.approx(0.022)


def test_budget_alert_rule_passes_promtool(tmp_path: Path) -> None:
    catalog = Catalog.from_text(TEXT, clock=VirtualClock())
    out = alert_rules(catalog.model)
    [rule] = out.groups[0]["rules"]
    assert rule["alert"] == "CommsErrorBudgetBurn"
    assert rule["expr"] == (
        'sum(rate(mitigate_events_total{event="attempt.failed",target=~"sms\\\\..*"}[1w])) / '
        'sum(rate(mitigate_events_total{event="attempt.started",target=~"sms\\\\..*"}[1w])) '
        "> 0.0214286"
    )
    tool = promtool()  # skips on a user's machine without it; fails under CI=true
    path = tmp_path / "rules.yaml"
    path.write_text(out.to_yaml())
    check = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_budget_without_objective_is_flagged() -> None:
    catalog = Catalog.from_text(TEXT.replace("  objective: 0.99\n", ""), clock=VirtualClock())
    assert catalog.detector.rules == []
    assert alert_rules(catalog.model).skipped == [
        ("comms.budget.1", "no objective: the burn rate needs one")
    ]
    [finding] = lint_model(catalog.model)
    assert (finding.code, finding.level) == ("budget-not-evaluable", "warning")
