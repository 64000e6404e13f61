"""Principles are rows like failure modes: an experiment naming one (in ``principles`` or
by its id) verifies it only when its checks held and its detection was observed; one no
experiment names is untested; ``--mutate`` removes each guard it relies on."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mitigate.chaos.mutate import mitigation_verdicts, mutation_check
from mitigate.chaos.runner import Runner, load_suite
from mitigate.cli import app

CATALOG = """\
service: unit
switches:
  - {id: unit.guard.deny, description: deny when the key check cannot answer}
detection_rules:
  - id: unit.rule.denied
    signal: denials
    kind: count
    event: guard.tenant_rejected
    op: ">"
    threshold: 0
    window: 1 min
principles:
  - id: unit.principle.1
    title: Security checks deny on failure
    text: For any security check, deny on failure.
    mitigated_by: [unit.guard.deny]
    detection_rules: [unit.rule.denied]
  - id: unit.principle.2
    title: Every failure logged
    mitigated_by: [unit.guard.deny]
  - id: unit.principle.3
    title: Nobody proves me
experiments:
  - id: unit.chaos.logged
    title: failures are logged
    fault: custom
    principles: [unit.principle.2]
"""

EXPERIMENTS = """\
from mitigate.chaos import experiment
from mitigate.observe.events import TenantRejected


def check(run):
    # The guard under test: deny when the key store cannot answer, if the switch is on.
    return "deny" if run.switches.enabled("unit.guard.deny") else "allow"


@experiment("unit.principle.1")
async def fail_closed(run):
    answer = check(run)
    if answer == "deny" and {fire}:
        run.catalog.detector(TenantRejected(target="keys", at=run.clock.now()))
    run.expect("the check denies", answer == "deny", answer)


@experiment("unit.chaos.logged")
async def logged(run):
    answer = check(run)
    if {detect}:
        run.detected("the log record was written")
    run.expect("the failure was logged", answer == "deny", answer)
"""


def _service(tmp_path: Path, *, fire: bool = True, detect: bool = True) -> Path:
    folder = tmp_path / f"unit_{fire}_{detect}"
    folder.mkdir()
    (folder / "catalog.yaml").write_text(CATALOG)
    (folder / "experiments.py").write_text(EXPERIMENTS.format(fire=fire, detect=detect))
    return folder


def test_principle_rows_are_verified_failed_or_untested_for_what_was_observed(
    tmp_path: Path,
) -> None:
    suite = load_suite(_service(tmp_path))
    assert suite.principles == {
        "unit.principle.1": "Security checks deny on failure",
        "unit.principle.2": "Every failure logged",
        "unit.principle.3": "Nobody proves me",
    }
    assert suite.covers == {
        "unit.principle.1": ["unit.principle.1"],  # an experiment with its id
        "unit.principle.2": ["unit.chaos.logged"],  # named in the experiment's principles
    }
    results = {r.id: r for r in Runner().run_suite(suite)}
    assert {i: (r.kind, r.verdict) for i, r in results.items()} == {
        "unit.principle.1": ("principle", "verified"),
        "unit.chaos.logged": ("principle", "verified"),
        "unit.principle.3": ("principle", "untested"),
    }
    assert results["unit.principle.1"].detected_by == ["unit.rule.denied"]
    assert results["unit.chaos.logged"].principles == ("unit.principle.2",)
    assert results["unit.principle.3"].reason == "no experiment names this principle"
    assert results["unit.principle.3"].principles == ("unit.principle.3",)


def test_a_principle_whose_checks_hold_but_whose_detection_never_showed_fails(
    tmp_path: Path,
) -> None:
    suite = load_suite(_service(tmp_path, fire=False, detect=False))
    results = {r.id: r for r in Runner().run_suite(suite)}
    own = results["unit.principle.1"]
    assert own.verdict == "failed"
    assert own.reason == (
        "detection never observed: unit.principle.1: none of its rules fired (unit.rule.denied)"
    )
    other = results["unit.chaos.logged"]
    assert other.verdict == "failed"
    assert other.reason.startswith("detection never observed: unit.principle.2: nothing detected")


def test_mutate_turns_off_each_guard_a_principle_relies_on(tmp_path: Path) -> None:
    suite = load_suite(_service(tmp_path))
    runner = Runner()
    baseline = runner.run_suite(suite)
    verdicts = mitigation_verdicts(mutation_check(suite, baseline, runner))
    assert [(v.failure_mode, v.removed, v.kind, v.outcome, v.caught_by) for v in verdicts] == [
        ("unit.principle.1", "unit.guard.deny", "switch", "killed", ("unit.principle.1",)),
        ("unit.principle.2", "unit.guard.deny", "switch", "killed", ("unit.chaos.logged",)),
    ]


def test_verify_lists_principles_and_exits_3_while_one_is_untested(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["verify", str(_service(tmp_path)), "--json", "--out", str(out)]
    )
    assert result.exit_code == 3, result.output
    assert '"id": "unit.principle.3", "kind": "principle", "verdict": "untested"' in result.stdout
