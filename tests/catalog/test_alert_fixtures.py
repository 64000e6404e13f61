"""`mitigate catalog alerts --tests` writes promtool fixtures that promtool passes, for
every catalog in the repository; a wrong expectation makes promtool fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mitigate.catalog.alert_tests import alert_tests
from mitigate.catalog.alerts import alert_rules
from mitigate.catalog.model import CatalogModel
from mitigate.cli import app
from tests.catalog.test_alerts import RULES, promtool

runner = CliRunner()
ROOT = Path(__file__).parents[2]
CATALOGS = sorted(
    [
        *ROOT.glob("examples/**/catalog.yaml"),
        *ROOT.glob("examples/catalogs/*.yaml"),
        *ROOT.glob("services/*/catalog.yaml"),
    ]
)


def run_promtool(tests_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "test", "rules", tests_file.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests_file.parent,
    )


def generate(catalog: Path, tmp_path: Path) -> tuple[Path, Path]:
    rules, tests = tmp_path / "alerts.yaml", tmp_path / "alerts_test.yaml"
    result = runner.invoke(
        app, ["catalog", "alerts", str(catalog), "-o", str(rules), "--tests", str(tests)]
    )
    assert result.exit_code == 0, result.output
    return rules, tests


def test_the_repository_has_catalogs_to_check() -> None:
    assert ROOT / "services" / "content" / "catalog.yaml" in CATALOGS
    assert len(CATALOGS) >= 3


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_promtool_passes_the_generated_fixtures(catalog: Path, tmp_path: Path) -> None:
    rules, tests = generate(catalog, tmp_path)
    document = yaml.safe_load(tests.read_text())
    alerts = [r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]]
    names = [t["name"] for t in document["tests"]]
    model = CatalogModel.model_validate(yaml.safe_load(catalog.read_text()))
    for alert in alerts:  # every rule has a firing case, or is checked alone below
        if f"{alert} firing" not in names:
            assert alert.endswith("ErrorBudgetBurn") and model.error_budget is not None
            budget_alone(model, tmp_path / "budget")
    checked = run_promtool(tests)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def budget_alone(model: CatalogModel, folder: Path) -> None:
    """A burn over days beside second-level rules is too many evaluations for one promtool
    file: the generator leaves it out there, and its rule is checked in a catalog alone."""
    alone = CatalogModel(service=model.service, error_budget=model.error_budget)
    folder.mkdir()
    rules_file, tests_file = folder / "alerts.yaml", folder / "alerts_test.yaml"
    rules = alert_rules(alone)
    rules_file.write_text(rules.to_yaml())
    fixtures = alert_tests(alone, rules, rules_file.name)
    assert [t["name"].split()[0] for t in fixtures.document["tests"]][:1] == [
        rules.groups[0]["rules"][0]["alert"]
    ]
    tests_file.write_text(yaml.safe_dump(fixtures.document, sort_keys=False))
    checked = run_promtool(tests_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_kind_of_rule_fires_and_stays_quiet(tmp_path: Path) -> None:
    model = CatalogModel.model_validate(
        {
            **RULES,
            "metrics": [{"name": "comms_outbox_lag_seconds"}],
            "error_budget": {
                "slo": "sends",
                "objective": 0.999,
                "window": "30d",
                "burn_threshold": 0.02,
                "burn_window": "1h",
                "action": "freeze deploys",
            },
        }
    )
    rules = alert_rules(model)
    fixtures = alert_tests(model, rules, "rules.yaml")
    (tmp_path / "rules.yaml").write_text(rules.to_yaml())
    (tmp_path / "rules_test.yaml").write_text(fixtures.to_yaml())
    assert fixtures.cases == 2 * 6  # five rules and the budget burn, each both ways
    assert fixtures.skipped == []
    checked = run_promtool(tmp_path / "rules_test.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_fails_a_fixture_whose_expectation_is_wrong(tmp_path: Path) -> None:
    _rules, tests = generate(ROOT / "examples" / "checkout" / "catalog.yaml", tmp_path)
    document = yaml.safe_load(tests.read_text())
    firing = next(t for t in document["tests"] if t["name"].endswith(" firing"))
    firing["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]["severity"] = "wrong"
    tests.write_text(yaml.safe_dump(document))
    checked = run_promtool(tests)
    assert checked.returncode != 0
    assert "wrong" in checked.stdout + checked.stderr


def test_a_condition_no_input_can_make_false_is_reported_not_faked(tmp_path: Path) -> None:
    model = CatalogModel.model_validate(
        {
            "service": "s",
            "detection_rules": [
                {"id": "s.any", "signal": "any", "kind": "count", "event": "x.y",
                 "op": ">=", "threshold": 0, "window": 60}
            ],
        }
    )  # fmt: skip
    fixtures = alert_tests(model, alert_rules(model), "r.yaml")
    assert fixtures.cases == 1
    assert fixtures.skipped == [("SXY not firing", "no input makes `>= 0` false")]


def test_tests_needs_an_output_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["catalog", "alerts", str(CATALOGS[0]), "--tests", str(tmp_path / "t.yaml")],
    )
    assert result.exit_code == 2
    assert "--tests needs -o" in result.output
    assert not (tmp_path / "t.yaml").exists()
