"""The terminal report fits 80 columns, whatever the ids and reasons are like."""

from __future__ import annotations

import pytest
from rich.console import Console

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.probes import Check
from mitigate.report.terminal import compact_table, print_results

LONG_ID = "payments-and-invoicing.chaos.card-gateway-outage-during-the-end-of-month-run"


def _results() -> list[ExperimentResult]:
    ok = ExperimentResult(
        "payments-and-invoicing", LONG_ID, "t", "chaos", "verified",
        detected_s=3.2, detected_by=["payments.rule.gateway-failing", "payments.rule.slow"],
        mitigated_by=["retry", "breaker", "fallback"],
    )  # fmt: skip
    ok.checks = [Check("holds", True, "during", 0.0)]
    failed = ExperimentResult(
        "payments-and-invoicing", "payments.fm.12", "t", "failure_mode", "failed",
        reason="detection never observed: payments.fm.12: none of its rules fired "
        "(payments.rule.a, payments.rule.b, payments.rule.c, payments.rule.d)",
    )  # fmt: skip
    untested = ExperimentResult(
        "shop", "shop.fm.3", "t", "failure_mode", "untested",
        reason="no experiment names this failure mode",
    )  # fmt: skip
    mutant = ExperimentResult(
        "shop", "shop.chaos.1", "t", "chaos", "failed", mutation="payments.charge, payments.refund",
        reason="x" * 200,
    )  # fmt: skip
    return [ok, failed, untested, mutant]


@pytest.mark.parametrize("verbose", [False, True])
def test_no_line_is_wider_than_80_columns(verbose: bool) -> None:
    console = Console(width=80, record=True, color_system=None, force_terminal=False)
    print_results(_results(), console, verbose=verbose)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert "payments-and-invoicing: 1 verified, 1 failed; shop: 0 verified" in " ".join(
        text.split()
    )


def test_the_compact_table_keeps_the_verdict_and_the_start_of_why() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(compact_table(_results(), width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    row = next(line for line in text.splitlines() if "payments.fm.12" in line)
    assert "failed" in row and "detection never observed" in row
    assert "untested   no experiment names this failure" in text


@pytest.mark.parametrize("ids", [["content.chaos.2", "content.retry.1"], ["a.fm.1", "b" * 30]])
def test_ids_up_to_30_characters_are_shown_whole(ids: list[str]) -> None:
    rows = [ExperimentResult("s", i, "t", "chaos", "failed", reason="why " * 40) for i in ids]
    console = Console(width=80, record=True, color_system=None)
    console.print(compact_table(rows, width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    for row_id in ids:
        assert any(line.split()[:2] == [row_id, "failed"] for line in lines if line.strip()), text
