"""The checkout example end to end under ``mitigate verify``, and the mutation check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "checkout"


def _verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout


def test_checkout_example_is_verified(tmp_path: Path) -> None:
    code, out = _verify(str(EXAMPLE), "--json", "--out", str(tmp_path))
    assert code == 0, out
    results = {r["id"]: r for r in json.loads(out)["results"]}
    assert set(results) == {
        "checkout.chaos.gateway-outage",
        "checkout.chaos.publish-resets",
        "checkout.chaos.stock-slow",
    }
    assert all(r["verdict"] == "verified" and r["kind"] == "failure_mode" for r in results.values())
    outage = results["checkout.chaos.gateway-outage"]
    assert outage["lost"] == 0 and outage["duplicated"] == 0
    assert outage["detected_s"] is not None and outage["detected_s"] <= 10
    assert outage["recovered_s"] is not None
    assert results["checkout.chaos.publish-resets"]["lost"] == 0
    assert results["checkout.chaos.stock-slow"]["detected_s"] <= 2

    journal = json.loads((tmp_path / "verify.json").read_text())
    gateway = next(r for r in journal["results"] if r["id"] == "checkout.chaos.gateway-outage")
    assert "breaker" in gateway["mitigated_by"] and "fallback" in gateway["mitigated_by"]
    page = (tmp_path / "report.html").read_text()
    assert page.count('<svg class="timeline"') == 3


def test_mutation_check_kills_every_removed_mitigation(tmp_path: Path) -> None:
    code, out = _verify(str(EXAMPLE), "--json", "--mutate", "--out", str(tmp_path))
    assert code == 0, out
    mutants = json.loads(out)["mutants"]
    assert {(m["removed"], m["outcome"]) for m in mutants} == {
        ("payments.charge", "killed"),
        ("orders.publish", "killed"),
        ("stock.read", "killed"),
    }


def test_mutation_check_reports_an_experiment_that_cannot_fail(tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    shutil.copytree(EXAMPLE, weak, ignore=shutil.ignore_patterns("__pycache__"))
    catalog = (weak / "catalog.yaml").read_text()
    # Slow stock reads still succeed without the timeout: "no errors" alone cannot fail.
    catalog = catalog.replace(
        "      - detected by timeout.fired within 2s\n      - fallback.used seen\n", ""
    ).replace("      - recovered within 5s\n", "")
    (weak / "catalog.yaml").write_text(catalog)
    code, out = _verify(str(weak), "--json", "--mutate", "--out", str(tmp_path / "out"))
    assert code == 1
    survived = [m for m in json.loads(out)["mutants"] if m["outcome"] == "survived"]
    assert [(m["experiment"], m["removed"]) for m in survived] == [
        ("checkout.chaos.stock-slow", "stock.read")
    ]


def test_bad_input_exits_2(tmp_path: Path) -> None:
    code, _ = _verify(str(tmp_path / "nowhere"))
    assert code == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "catalog.yaml").write_text("service: broken\npolicies: [not, a, mapping]\n")
    code, _ = _verify(str(broken))
    assert code == 2


def test_terminal_table_names_every_column(tmp_path: Path) -> None:
    code, out = _verify(str(EXAMPLE), "--out", str(tmp_path))
    assert code == 0, out
    for column in ("failure mode", "fault", "detected in", "mitigated by", "verdict"):
        assert column in out
    assert "checkout.chaos.gateway-outage" in out
