"""Every row of the comms catalog verifies, and fails once any one of its mitigations is
removed (what `mitigate verify services/comms --mutate` shows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mitigate
from mitigate.chaos.runner import Runner, load_suite

SERVICE = Path(__file__).resolve().parents[3] / "services" / "comms"
CATALOG = mitigate.Catalog.load(SERVICE / "catalog.yaml", clock=mitigate.VirtualClock())
SWITCHES = {s.id for s in CATALOG.model.switches}
MUTANTS = [(fm.id, m) for fm in CATALOG.model.failure_modes for m in fm.mitigated_by]


@pytest.fixture(scope="module")
def suite() -> Any:
    return load_suite(SERVICE)


def _spec(suite: Any, experiment_id: str) -> Any:
    return next(s for s in suite.experiments if s.id == experiment_id)


@pytest.mark.parametrize("row", [fm.id for fm in CATALOG.model.failure_modes])
def test_row_verifies_and_its_detection_rule_fired(suite: Any, row: str) -> None:
    result = Runner().run_one(suite, _spec(suite, row))
    assert result.verdict == "verified", result.reason


@pytest.mark.parametrize(("row", "mitigation"), MUTANTS)
def test_row_fails_without_each_mitigation(suite: Any, row: str, mitigation: str) -> None:
    if mitigation in SWITCHES:
        result = Runner().run_one(suite, _spec(suite, row), switches_off=frozenset({mitigation}))
    else:
        result = Runner().run_one(suite, _spec(suite, row), passthrough=frozenset({mitigation}))
    assert result.verdict == "failed", f"{row} still passes without {mitigation}"
