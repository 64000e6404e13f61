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
        "checkout.chaos.double-submit",
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
    assert page.count('<svg class="timeline"') == 4
    dedupe = next(r for r in journal["results"] if r["id"] == "checkout.chaos.double-submit")
    assert dedupe["switches"] == ["checkout.dedupe.order"]
    assert dedupe["duplicated"] == 0 and "order dedupe" in dedupe["mitigated_by"]


def test_mutation_check_kills_every_removed_mitigation(tmp_path: Path) -> None:
    code, out = _verify(str(EXAMPLE), "--json", "--mutate", "--out", str(tmp_path))
    assert code == 0, out
    mutants = json.loads(out)["mutants"]
    assert {(m["removed"], m["kind"], m["outcome"]) for m in mutants} == {
        ("payments.charge", "policy", "killed"),
        ("orders.publish", "policy", "killed"),
        ("stock.read", "policy", "killed"),
        ("checkout.dedupe.order", "switch", "killed"),
    }


def test_a_switch_turned_off_is_caught_and_the_journal_says_by_which_experiment(
    tmp_path: Path,
) -> None:
    code, out = _verify(str(EXAMPLE), "--mutate", "--out", str(tmp_path))
    assert code == 0, out
    journal = json.loads((tmp_path / "verify.json").read_text())
    row = next(r for r in journal["results"] if r["id"] == "checkout.chaos.double-submit")
    assert row["mitigations"] == [
        {
            "service": "checkout",
            "failure_mode": "checkout.fm.4",
            "removed": "checkout.dedupe.order",
            "kind": "switch",
            "outcome": "killed",
            "caught_by": ["checkout.chaos.double-submit"],
            "survived_in": [],
        }
    ]
    # The run without the dedupe charged every order twice: that is what caught it.
    [mutant] = [m for m in journal["mutants"] if m["kind"] == "switch"]
    assert "duplicated 20" in mutant["reason"]
    assert {v["removed"] for v in journal["mitigations"] if v["outcome"] == "killed"} == {
        "payments.charge",
        "orders.publish",
        "stock.read",
        "checkout.dedupe.order",
    }
    page = (tmp_path / "report.html").read_text()
    assert "checkout.dedupe.order: killed by checkout.chaos.double-submit" in page
    assert "without checkout.dedupe.order (switch): killed by checkout.chaos.double-submit" in out


def test_a_switch_the_service_never_asks_survives_with_the_reason(tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    shutil.copytree(EXAMPLE, weak, ignore=shutil.ignore_patterns("__pycache__"))
    experiments = (weak / "experiments.py").read_text()
    # The shop gets its own switches, not the run's: turning the run's off changes nothing.
    experiments = experiments.replace("switches=run.switches,", "")
    (weak / "experiments.py").write_text(experiments)
    code, out = _verify(str(weak), "--json", "--mutate", "--out", str(tmp_path / "out"))
    assert code == 1
    payload = json.loads(out)
    survived = [m for m in payload["mutants"] if m["outcome"] == "survived"]
    assert [(m["removed"], m["kind"]) for m in survived] == [("checkout.dedupe.order", "switch")]
    assert "never asked switch 'checkout.dedupe.order'" in survived[0]["reason"]
    [verdict] = [v for v in payload["mitigations"] if v["kind"] == "switch"]
    assert verdict["outcome"] == "survived" and verdict["caught_by"] == []
    assert verdict["survived_in"] == ["checkout.chaos.double-submit"]


def test_a_survivor_is_printed_in_the_table_not_a_crash(tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    shutil.copytree(EXAMPLE, weak, ignore=shutil.ignore_patterns("__pycache__"))
    experiments = (weak / "experiments.py").read_text()
    (weak / "experiments.py").write_text(experiments.replace("switches=run.switches,", ""))
    code, out = _verify(str(weak), "--mutate", "--out", str(tmp_path / "out"))
    assert code == 1, out
    assert "without checkout.dedupe.order (switch): survived" in out
    assert "1 mitigation(s) not shown necessary" in " ".join(out.split())


def test_mutation_check_reports_an_experiment_that_cannot_fail(tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    shutil.copytree(EXAMPLE, weak, ignore=shutil.ignore_patterns("__pycache__"))
    catalog = (weak / "catalog.yaml").read_text()
    # Slow stock reads still succeed without the timeout: "no errors" alone cannot fail.
    # (Its detection stays observed: the injected fault itself, as a weak test would.)
    catalog = catalog.replace(
        "      - detected by timeout.fired within 2s\n      - fallback.used seen\n",
        "      - detected by fault.injected within 1s\n",
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
    code, out = _verify(str(EXAMPLE), "-v", "--out", str(tmp_path))
    assert code == 0, out
    for column in ("failure mode", "fault", "detected in", "mitigated by", "verdict"):
        assert column in out
    assert "checkout.chaos.gateway-outage" in out


def test_the_default_table_fits_80_columns_and_says_why(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["verify", str(EXAMPLE), "--mutate", "--out", str(tmp_path)], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    gateway = next(line for line in lines if line.lstrip().startswith("checkout.chaos.gateway"))
    assert "checkout.chaos.gateway-outage " in gateway  # the id whole
    assert "verified" in gateway and "rule.gateway-failing in" in gateway
    assert "checkout: 4 verified" in result.stdout
