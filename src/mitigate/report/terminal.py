"""The terminal report: one rich table row per experiment (and per unproven failure mode).

>>> fmt_seconds(0.25), fmt_seconds(None), fmt_count(0)
('250ms', '-', '0')

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from mitigate.chaos.experiment import ExperimentResult

__all__ = ["fmt_count", "fmt_seconds", "print_results", "results_table"]

_STYLE = {"verified": "green", "failed": "red", "error": "magenta"}


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.3g}s"


def fmt_count(value: int | None) -> str:
    return "-" if value is None else str(value)


def results_table(results: Sequence[ExperimentResult]) -> Table:
    table = Table(title="mitigate verify", show_lines=False)
    for name in (
        "failure mode",
        "fault",
        "detected in",
        "mitigated by",
        "lost",
        "duplicated",
        "recovered in",
        "verdict",
    ):
        table.add_column(name, overflow="fold", no_wrap=name == "failure mode")
    for r in results:
        style = _STYLE[r.verdict]
        label = r.id if r.mutation is None else f"{r.id} (without {r.mutation})"
        table.add_row(
            label,
            r.fault or "-",
            fmt_seconds(r.detected_s),
            ", ".join(r.mitigated_by) or "-",
            fmt_count(r.lost),
            fmt_count(r.duplicated),
            fmt_seconds(r.recovered_s),
            f"[{style}]{r.verdict}[/{style}]",
        )
    return table


def print_results(results: Sequence[ExperimentResult], console: Console) -> None:
    console.print(results_table(results))
    for r in results:
        if r.verdict != "verified" and r.reason:
            console.print(f"[{_STYLE[r.verdict]}]{r.service} {r.id}[/]: {r.reason}")
