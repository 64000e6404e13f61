"""Verdicts mean what they say: "verified" needs the detection the catalog claims to have
been observed, and a failure mode no experiment names is "untested", not "failed"."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate.chaos import Failure, Run, experiment
from mitigate.chaos.experiment import spec_of
from mitigate.chaos.runner import Runner, Suite
from mitigate.observe.events import AlertRaised

CATALOG = """\
version: 1
service: unit
policies:
  dep.call:
    retry: {max: 2, backoff: "1s, 1s"}
detection_rules:
  - id: unit.rule.failing
    signal: calls failing
    kind: count
    event: attempt.failed
    target: dep.call
    op: ">"
    threshold: 1
    window: 1 min
    severity: error
failure_modes:
  - id: unit.fm.1
    title: dependency failing
    detection_rules: [unit.rule.failing]
    mitigated_by: [dep.call]
  - id: unit.fm.2
    title: dependency failing, seen by the client only
    mitigated_by: [dep.call]
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    return path


def _suite(catalog: Path, fn: object, *others: str) -> Suite:
    """A suite of the experiment ``fn``; ``others`` are ids of more rows of it."""
    spec = spec_of(fn)
    assert spec is not None
    suite = Suite(service="unit", root=catalog.parent, catalog_path=catalog, experiments=[spec])
    suite.row_ids = {spec.id, *others}
    return suite


async def _calls(run: Run, failures: int) -> None:
    async def dep() -> str:
        return "ok"

    pipeline = run.policy("dep.call")
    async with run.fault(Failure("dep.call", times=failures)):
        outcome = await run.call("dep", pipeline.acall, dep)
    run.expect("the call succeeds after retries", outcome.ok, str(outcome.error))


def test_a_failure_mode_row_is_verified_only_when_one_of_its_rules_fired(catalog: Path) -> None:
    @experiment("unit.fm.1", failure_modes=["unit.fm.1"])
    async def twice(run: Run) -> None:
        await _calls(run, failures=2)  # two failures in a minute: the rule fires

    result = Runner().run_one(_suite(catalog, twice), spec_of(twice))  # type: ignore[arg-type]
    assert (result.verdict, result.detected_by) == ("verified", ["unit.rule.failing"])


def test_checks_passing_without_the_rule_firing_is_a_failed_row_that_says_why(
    catalog: Path,
) -> None:
    @experiment("unit.fm.1", failure_modes=["unit.fm.1"])
    async def once(run: Run) -> None:
        await _calls(run, failures=1)  # one failure: below the rule's threshold

    result = Runner().run_one(_suite(catalog, once), spec_of(once))  # type: ignore[arg-type]
    assert result.verdict == "failed"
    assert result.reason == (
        "detection never observed: unit.fm.1: none of its rules fired (unit.rule.failing)"
    )
    assert all(c.passed for c in result.checks)


def test_another_row_needs_some_observed_detection_when_the_failure_mode_has_its_own(
    catalog: Path,
) -> None:
    @experiment("unit.chaos.1", failure_modes=["unit.fm.1"])
    async def quiet(run: Run) -> None:
        await _calls(run, failures=1)

    @experiment("unit.chaos.1", failure_modes=["unit.fm.1"])
    async def probed(run: Run) -> None:
        await _calls(run, failures=1)
        await run.expect_event("retry.scheduled", target="dep.call", within=5)

    runner = Runner()
    # unit.fm.1's own row is in the suite: it carries the rule; this row its own detection
    unseen = runner.run_one(_suite(catalog, quiet, "unit.fm.1"), spec_of(quiet))  # type: ignore[arg-type]
    assert unseen.verdict == "failed" and "nothing detected the fault" in unseen.reason
    seen = runner.run_one(_suite(catalog, probed, "unit.fm.1"), spec_of(probed))  # type: ignore[arg-type]
    assert seen.verdict == "verified", seen.reason


def test_without_its_own_row_a_failure_mode_needs_one_of_its_rules_in_each_experiment(
    catalog: Path,
) -> None:
    @experiment("unit.chaos.1", failure_modes=["unit.fm.1"])
    async def probed(run: Run) -> None:
        await _calls(run, failures=1)  # below the rule's threshold
        await run.expect_event("retry.scheduled", target="dep.call", within=5)

    @experiment("unit.chaos.1", failure_modes=["unit.fm.1"])
    async def firing(run: Run) -> None:
        await _calls(run, failures=2)

    runner = Runner()
    probe_only = runner.run_one(_suite(catalog, probed), spec_of(probed))  # type: ignore[arg-type]
    assert probe_only.verdict == "failed"
    assert probe_only.reason == (
        "detection never observed: unit.fm.1: none of its rules fired (unit.rule.failing)"
    )
    fired = runner.run_one(_suite(catalog, firing), spec_of(firing))  # type: ignore[arg-type]
    assert (fired.verdict, fired.detected_by) == ("verified", ["unit.rule.failing"])
    assert fired.why().startswith("detected by unit.rule.failing in ")


def test_run_detected_records_an_explicit_detection(catalog: Path) -> None:
    @experiment("unit.chaos.2", failure_modes=["unit.fm.2"])
    async def silent(run: Run) -> None:
        await _calls(run, failures=1)

    @experiment("unit.chaos.2", failure_modes=["unit.fm.2"])
    async def told(run: Run) -> None:
        await _calls(run, failures=1)
        run.detected("the client saw a 503")

    # unit.fm.2 has no rules: an explicit detection is what the row needs
    unseen = Runner().run_one(_suite(catalog, silent), spec_of(silent))  # type: ignore[arg-type]
    assert unseen.verdict == "failed" and "nothing detected the fault" in unseen.reason
    result = Runner().run_one(_suite(catalog, told), spec_of(told))  # type: ignore[arg-type]
    assert result.verdict == "verified", result.reason
    assert result.detected_s is not None


def test_the_rules_the_catalog_claims_come_first_in_why(catalog: Path) -> None:
    @experiment("unit.fm.1", failure_modes=["unit.fm.1"])
    async def noisy(run: Run) -> None:
        alert = AlertRaised(target="unit", at=run.clock.now(), rule="unit.alert.aaa")
        for observer in run.observers:  # some other alert, first in the alphabet
            observer(alert)
        await _calls(run, failures=2)

    result = Runner().run_one(_suite(catalog, noisy), spec_of(noisy))  # type: ignore[arg-type]
    assert result.detected_by == ["unit.rule.failing", "unit.alert.aaa"]
    assert result.why().startswith("detected by unit.rule.failing, unit.alert.aaa in ")
