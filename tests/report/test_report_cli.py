"""`mitigate report JOURNAL` renders the HTML again from a saved journal, and writes JUnit
XML that CI systems read: one testcase per row, failed, errored and untested counted apart."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.probes import Check
from mitigate.cli import app
from mitigate.report.journal import RunInfo, write_journal


def _journal(tmp_path: Path) -> Path:
    ok = ExperimentResult("shop", "shop.fm.1", "gateway down", "failure_mode", "verified")
    ok.checks = [Check("paid", True, "during", 1.0000004)]
    ok.detected_by, ok.detected_s, ok.elapsed_s = ["shop.rule.x"], 2.5, 0.25
    bad = ExperimentResult(
        "shop", "shop.fm.2", "double charge", "failure_mode", "failed", reason="charged twice"
    )
    bad.checks = [Check("charged once", False, "after", 3.0, "2 charges")]
    gap = ExperimentResult(
        "shop", "shop.fm.3", "slow stock", "failure_mode", "untested",
        reason="no experiment names this failure mode",
    )  # fmt: skip
    path = tmp_path / "verify.json"
    info = RunInfo.here(seed=7)
    info.started_at = "2026-12-04T20:00:00+00:00"
    write_journal(path, [ok, bad, gap], info=info)
    return path


def test_report_renders_the_html_again_and_writes_junit(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    data = json.loads(journal.read_text())
    assert data["results"][0]["checks"][0]["at"] == 1.0  # rounded to the microsecond
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(app, ["report", str(journal), "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert "shop.fm.2" in page and "charged twice" in page and "seed: 7" in page
    assert "detected by shop.rule.x in 2.5s" in page
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "3", "failures": "1", "errors": "0", "skipped": "1"
    }  # fmt: skip
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["shop.fm.2"].find("failure").get("message") == "charged twice"  # type: ignore[union-attr]
    assert "FAIL charged once: 2 charges" in cases["shop.fm.2"].find("failure").text  # type: ignore[union-attr,operator]
    skipped = cases["shop.fm.3"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "no experiment names this failure mode"
    assert [s.get("name") for s in root.iter("testsuite")] == ["shop"]
    assert cases["shop.fm.1"].get("time") == "0.250"
    assert "shop: 1 verified, 1 failed, 1 untested" in result.stdout


def test_a_missing_or_foreign_journal_is_exit_2(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "no such journal" in " ".join(missing.output.split())
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    foreign = CliRunner().invoke(app, ["report", str(other)])
    assert foreign.exit_code == 2 and "not a mitigate journal" in " ".join(foreign.output.split())
