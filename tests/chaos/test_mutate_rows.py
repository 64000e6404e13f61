"""--mutate removes a table row's policy, and each switch a breaker row names, for the
row's own experiment: a row whose experiment passes without them is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate import CatalogError
from mitigate.chaos.mutate import mutation_check
from mitigate.chaos.runner import Runner, load_catalog_model, load_suite

CATALOG = """\
service: svc
policies:
  dep.call:
    retry: {id: svc.retry.1, max: 2, backoff: "100ms"}
    breaker: {id: svc.breaker.1, trip: "3 fail / 30s", reset: 10s, switches: [svc.switch.shared]}
switches:
  - id: svc.switch.shared
    description: the breaker's openings are shared
"""

EXPERIMENTS = """
from mitigate.chaos import Failure, Run, experiment


@experiment("svc.breaker.1")
async def breaker(run: Run) -> None:
    pipeline = run.policy("dep.call")
    shared = run.switches.enabled("svc.switch.shared")
    async with run.fault(Failure("dep.call", times=3)):
        for _ in range(3):
            try:
                await pipeline.acall(_ok)
            except Exception:
                pass
    run.detected("the breaker opened")
    run.expect("opened", bool(run.recorder.named("breaker.opened")))
    run.expect("shared", {CHECK_SHARED})


@experiment("svc.retry.1")
async def retry(run: Run) -> None:
    run.detected("nothing to see")
    run.expect("passes whatever", True)


async def _ok() -> str:
    return "ok"
"""


def _service(tmp_path: Path, *, check_shared: bool) -> Path:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    code = EXPERIMENTS.replace("{CHECK_SHARED}", "shared" if check_shared else "True")
    (experiments / "rows.py").write_text(code)
    return tmp_path


@pytest.mark.parametrize("check_shared", [True, False])
def test_a_rows_policy_and_its_switches_are_removed_for_its_experiment(
    tmp_path: Path, check_shared: bool
) -> None:
    suite = load_suite(_service(tmp_path, check_shared=check_shared))
    assert suite.row_mitigations == {"svc.breaker.1": ["dep.call"], "svc.retry.1": ["dep.call"]}
    assert suite.row_switches["svc.breaker.1"] == ["svc.switch.shared"]
    runner = Runner()
    baseline = [runner.run_one(suite, spec) for spec in suite.experiments]
    assert {r.verdict for r in baseline} == {"verified"}
    outcomes = {
        (m.failure_mode, m.removed): m.outcome for m in mutation_check(suite, baseline, runner)
    }
    assert outcomes[("svc.breaker.1", "dep.call")] == "killed"
    # An experiment that never looks at what it claims to need lets the mutant survive.
    assert outcomes[("svc.retry.1", "dep.call")] == "survived"
    expected = "killed" if check_shared else "survived"
    assert outcomes[("svc.breaker.1", "svc.switch.shared")] == expected


def test_a_breaker_row_naming_an_unknown_switch_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.replace("switches: [svc.switch.shared]", "switches: [svc.switch.nope]"))
    with pytest.raises(CatalogError) as refused:
        load_catalog_model(path)
    (finding,) = refused.value.findings
    assert (finding.code, finding.level) == ("unknown-ref", "error")
    assert finding.field == "policies.dep.call.breaker.switches[0]"
    assert "no switch 'svc.switch.nope'" in finding.message
