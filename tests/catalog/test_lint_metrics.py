"""A rule reading a metric nobody exports is a lint error (its alert could never fire)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mitigate.catalog.lint import CODES, lint_model
from mitigate.catalog.model import CatalogModel
from mitigate.cli import app

runner = CliRunner()


def gauge(metric: str) -> dict[str, Any]:
    return {"id": "s.rule.lag", "signal": "lag > 30 s", "kind": "gauge", "metric": metric,
            "op": ">", "threshold": 30}  # fmt: skip


def codes(**catalog: Any) -> list[str]:
    model = CatalogModel.model_validate({"service": "s", **catalog})
    return [f.code for f in lint_model(model) if f.level == "error"]


def test_an_undeclared_metric_is_an_error_with_its_own_code() -> None:
    assert "metric-unknown" in CODES
    assert codes(detection_rules=[gauge("s_outbox_lag_seconds")]) == ["metric-unknown"]


def test_a_declared_metric_is_fine() -> None:
    declared = [{"name": "s_outbox_lag_seconds", "type": "gauge", "description": "lag"}]
    assert codes(detection_rules=[gauge("s_outbox_lag_seconds")], metrics=declared) == []


def test_mitigates_own_metrics_need_no_declaration() -> None:
    for metric in ("mitigate_breaker_open", "mitigate_events_total", "mitigate_outbox_backlog"):
        assert codes(detection_rules=[gauge(metric)]) == [], metric


def test_a_typo_in_a_mitigate_metric_is_caught() -> None:
    assert codes(detection_rules=[gauge("mitigate_breaker_opened")]) == ["metric-unknown"]


def test_a_declared_counter_covers_its_total_sample() -> None:
    declared = [{"name": "s_jobs", "type": "counter"}]
    assert codes(detection_rules=[gauge("s_jobs_total")], metrics=declared) == []


def test_lint_exits_1_and_names_the_metric_and_the_fix(tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text(
        "service: s\ndetection_rules:\n  - id: s.rule.lag\n    signal: lag\n    kind: gauge\n"
        "    metric: s_outbox_lag_seconds\n    op: '>'\n    threshold: 30\n"
    )
    result = runner.invoke(app, ["catalog", "lint", str(catalog)])
    assert result.exit_code == 1, result.output
    assert "metric-unknown" in result.output
    assert "s_outbox_lag_seconds" in result.output
    assert "metrics:" in result.output
    assert "c.yaml:6" in result.output  # the line of the metric field


def test_a_bad_metric_name_in_the_list_is_a_schema_error(tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("service: s\nmetrics:\n  - name: 'not a metric'\n")
    result = runner.invoke(app, ["catalog", "lint", str(catalog)])
    assert result.exit_code in (1, 2), result.output
    assert "schema" in result.output
