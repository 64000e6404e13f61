"""Every row of the edge catalog (failure modes and principles) verifies through its
experiment (virtual time), and each row's experiment fails with its mitigation switched
off."""

from __future__ import annotations

import yaml
from tests.background import ROOT, background_run, finished


@background_run("edge-mutate", "verify", "services/edge", "--mutate", cpu=True)
def test_verify_and_mutate() -> None:
    run = finished("edge-mutate")
    journal = run.journal
    catalog = yaml.safe_load((ROOT / "services/edge/catalog.yaml").read_text())
    rows = catalog["failure_modes"] + catalog["principles"]  # 13 failure modes, 4 principles
    assert len(rows) == 17
    verdicts = {r["id"]: r["verdict"] for r in journal["results"] if r.get("mutation") is None}
    assert verdicts == {row["id"]: "verified" for row in rows}
    mitigations = {(m["failure_mode"], m["removed"]): m["outcome"] for m in journal["mitigations"]}
    expected = {(row["id"], name) for row in rows for name in row["mitigated_by"]}
    assert set(mitigations) == expected
    assert set(mitigations.values()) == {"killed"}, mitigations
