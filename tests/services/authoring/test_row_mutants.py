"""Rows that name no failure mode of their own (so `mitigate verify --mutate` does not
reach them) still fail once any one of their mitigations is removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mitigate.chaos.runner import Runner, load_suite

SERVICE = Path(__file__).resolve().parents[3] / "services" / "authoring"

# row -> the mitigations its seed line names: ("policy", target) or ("switch", id).
MUTANTS = [
    ("authoring.chaos.4", "policy", "store.write"),
    ("authoring.chaos.4", "switch", "authoring.switch.operation-id"),
    ("authoring.fallback.3", "policy", "media.preview"),
    ("authoring.fallback.3", "switch", "authoring.switch.preview-origin"),
    ("authoring.retry.5", "policy", "import.step"),
    ("authoring.fallback.2", "switch", "authoring.switch.single-user"),
    ("authoring.fallback.2", "switch", "authoring.switch.version-precondition"),
]


@pytest.fixture(scope="module")
def suite() -> Any:
    return load_suite(SERVICE)


@pytest.mark.parametrize(("row", "kind", "name"), MUTANTS)
def test_row_fails_without_each_mitigation(suite: Any, row: str, kind: str, name: str) -> None:
    spec = next(s for s in suite.experiments if s.id == row)
    assert Runner().run_one(suite, spec).verdict == "verified"
    if kind == "switch":
        result = Runner().run_one(suite, spec, switches_off=frozenset({name}))
    else:
        result = Runner().run_one(suite, spec, passthrough=frozenset({name}))
    assert result.verdict == "failed", f"{row} still passes without {name}"
