"""The device side's experiments pass, and the two table rows no failure mode names
(content.breaker.3, content.fallback.4: the assistant config) fail once their pipeline
is removed, as `--mutate` shows for the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate.chaos.runner import Runner, load_suite

SERVICE = Path(__file__).resolve().parents[3] / "services" / "content"


@pytest.fixture(scope="module")
def suite():  # type: ignore[no-untyped-def]
    return load_suite(SERVICE)


def spec_of(suite, experiment_id: str):  # type: ignore[no-untyped-def]
    return next(s for s in suite.experiments if s.id == experiment_id)


@pytest.mark.parametrize("experiment_id", ["content.breaker.3", "content.fallback.4"])
def test_assistant_rows_verify_and_need_their_pipeline(suite, experiment_id: str) -> None:  # type: ignore[no-untyped-def]
    runner = Runner()
    spec = spec_of(suite, experiment_id)
    assert runner.run_one(suite, spec).verdict == "verified"
    mutant = runner.run_one(suite, spec, passthrough=frozenset({"assistant.config"}))
    assert mutant.verdict == "failed", mutant.reason


@pytest.mark.parametrize(
    "experiment_id",
    ["content.fm.1.3", "content.fm.1.5", "content.fm.1.6", "content.fm.1.9", "content.fm.1.10"],
)
def test_device_rows_verify(suite, experiment_id: str) -> None:  # type: ignore[no-untyped-def]
    result = Runner().run_one(suite, spec_of(suite, experiment_id))
    assert result.verdict == "verified", result.reason
