"""`mitigate verify services/authoring` verifies every row of the catalog, in virtual time."""

from __future__ import annotations

from tests.background import background_run, finished


@background_run("authoring-verify", "verify", "services/authoring", cpu=True)
def test_verify_verifies_every_row() -> None:
    run = finished("authoring-verify")
    assert run.returncode == 0, run.output
    verdicts = {r["id"]: r["verdict"] for r in run.journal["results"]}
    assert len(verdicts) == 25 and set(verdicts.values()) == {"verified"}, verdicts
