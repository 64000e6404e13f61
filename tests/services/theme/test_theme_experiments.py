"""Each theme row's experiment verifies, and fails once its mitigation's switch is off
(what `mitigate verify services/theme --mutate` shows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate.chaos.runner import Runner, load_suite

SERVICE = Path(__file__).resolve().parents[3] / "services" / "theme"
SWITCHES = {
    "theme.fm.2.1": ["theme.switch.stale-reads"],
    "theme.fm.2.2": ["theme.switch.occ"],
    "theme.fm.2.3": ["theme.switch.publish-gate"],
    "theme.fm.2.4": ["theme.switch.orphan-sweep"],
    "theme.fm.2.5": ["theme.switch.flip-guard", "theme.switch.publish-compensation"],
    "theme.fm.2.6": ["theme.switch.purge-retrier"],
    "theme.fm.2.7": ["theme.switch.cache-bypass"],
    "theme.fm.2.8": ["theme.switch.relay-scale-out"],
    "theme.fm.2.9": [
        "theme.switch.inbox-retry",
        "theme.switch.inbox-dlq",
        "theme.switch.inbox-dedupe",
    ],
    "theme.fm.2.10": [
        "theme.switch.tenant-guard",
        "theme.switch.fail-closed-tenant",
        "theme.switch.rls-startup-check",
        "theme.switch.tenant-per-transaction",
    ],
    "theme.fm.2.11": [
        "theme.switch.sanitise-write",
        "theme.switch.sanitise-render",
        "theme.switch.csp",
    ],
    "theme.fm.2.12": ["theme.switch.digest-verify", "theme.switch.last-known-good"],
    "theme.fm.2.13": ["theme.switch.preview-limits", "theme.switch.ip-block"],
    "theme.fm.2.14": [
        "theme.switch.inbox-dedupe",
        "theme.switch.asset-scan",
        "theme.switch.tolerant-render",
    ],
    "theme.fm.2.15": ["theme.switch.ai-output-gate"],
    "theme.fm.2.16": ["theme.switch.ai-output-gate", "theme.switch.human-approval"],
    "theme.fm.2.17": ["theme.switch.occ"],
    "theme.fm.2.18": ["theme.switch.locale-guard"],
    "theme.fm.2.19": ["theme.switch.preset-gate"],
    "theme.fm.2.20": [],  # its mitigation is a policy: see test_rows_need_their_policy
    "theme.fm.2.21": [
        "theme.switch.inbox-retry",
        "theme.switch.inbox-dlq",
        "theme.switch.brand-degraded",
    ],
    "theme.fm.2.22": ["theme.switch.outbox"],
    "theme.fm.2.23": ["theme.switch.budget-meter"],
    "theme.fm.2.24": [
        "theme.switch.policy-reset",
        "theme.switch.digest-verify",
        "theme.switch.last-known-good",
    ],
    "theme.principle.1": [
        "theme.switch.stale-reads",
        "theme.switch.cache-bypass",
        "theme.switch.last-known-good",
    ],
    "theme.principle.2": ["theme.switch.failure-audit"],
    "theme.principle.3": [
        "theme.switch.idempotency-key",
        "theme.switch.occ",
        "theme.switch.inbox-dedupe",
    ],
    "theme.principle.4": ["theme.switch.tenant-bulkhead"],
    "theme.principle.5": ["theme.switch.last-known-good", "theme.switch.digest-verify"],
}


@pytest.fixture(scope="module")
def suite():  # type: ignore[no-untyped-def]
    return load_suite(SERVICE)


@pytest.mark.parametrize("row", sorted(SWITCHES))
def test_row_verifies_and_needs_each_switch(suite, row: str) -> None:  # type: ignore[no-untyped-def]
    spec = next(s for s in suite.experiments if s.id == row)
    runner = Runner()
    result = runner.run_one(suite, spec)
    assert result.verdict == "verified", result.reason
    for switch in SWITCHES[row]:
        mutant = runner.run_one(suite, spec, switches_off=frozenset({switch}))
        assert mutant.verdict == "failed", (switch, mutant.reason)


@pytest.mark.parametrize(
    ("row", "policy"),
    [
        ("theme.fm.2.1", "theme.db"),
        ("theme.fm.2.4", "bundle.upload"),
        ("theme.principle.1", "theme.db"),
        ("theme.fm.2.6", "cdn.purge"),
        ("theme.fm.2.7", "bundle.cache"),
        ("theme.fm.2.20", "authoring.admission"),
    ],
)
def test_rows_need_their_policy(suite, row: str, policy: str) -> None:  # type: ignore[no-untyped-def]
    spec = next(s for s in suite.experiments if s.id == row)
    mutant = Runner().run_one(suite, spec, passthrough=frozenset({policy}))
    assert mutant.verdict == "failed", mutant.reason


def test_every_catalog_row_is_exercised_here(suite) -> None:  # type: ignore[no-untyped-def]
    rows = [row for row in SWITCHES if ".fm." in row]
    assert sorted(rows) == sorted(suite.failure_modes)
    assert sorted(SWITCHES) == sorted(spec.id for spec in suite.experiments)
