"""The demonstration behind ``mitigate demo``: guarantees checked against recorded events."""

from __future__ import annotations

import json
import time

from typer.testing import CliRunner

from mitigate.cli import app
from mitigate.demo import run_demo


def test_the_demo_holds_every_guarantee_in_virtual_time() -> None:
    started = time.perf_counter()
    result = run_demo()
    assert time.perf_counter() - started < 2.0  # two virtual minutes
    assert result.passed, result.failed()
    assert len(result.checks) == 7
    names = [e.name for e in result.events]
    for name in (
        "breaker.opened",
        "breaker.half_opened",
        "breaker.closed",
        "fallback.used",
        "timeout.fired",
        "retry.scheduled",
        "budget.exhausted",
    ):
        assert name in names, name
    assert {e.target for e in result.events} == {"config.fetch"}


def test_removing_a_mitigation_fails_its_guarantees() -> None:
    no_breaker = run_demo(breaker=False)
    failed = {c.name for c in no_breaker.failed()}
    assert "the breaker opened during the outage and closed after it" in failed
    no_fallback = run_demo(fallback=False)
    assert not no_fallback.passed
    assert any("none saw an error" in c.name for c in no_fallback.failed())


def test_cli_prints_the_timeline_and_the_verdict() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["demo"])
    assert ok.exit_code == 0, ok.output
    assert "all guarantees held" in ok.output and "PASS" in ok.output
    assert "breaker.opened" in ok.output
    broken = runner.invoke(app, ["demo", "--no-breaker"])
    assert broken.exit_code == 1
    assert "FAIL" in broken.output


def test_cli_json() -> None:
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["passed"] is True
    assert len(payload["checks"]) == 7
    assert payload["events"][0]["target"] == "config.fetch"
