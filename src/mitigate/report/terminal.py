"""The terminal report: one rich table row per experiment (and per unproven failure mode).

>>> fmt_seconds(0.25), fmt_seconds(None), fmt_count(0)
('250ms', '-', '0')

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, verdicts_for

__all__ = ["fmt_count", "fmt_seconds", "necessity_cell", "print_results", "results_table"]

_STYLE = {"verified": "green", "failed": "red", "error": "magenta"}


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.3g}s"


def fmt_count(value: int | None) -> str:
    return "-" if value is None else str(value)


def results_table(
    results: Sequence[ExperimentResult], verdicts: Sequence[MitigationVerdict] = ()
) -> Table:
    """One row per result; with ``verdicts`` (``--mutate``), a column says for each
    mitigation of the row whether removing it was caught, and by which experiment."""
    table = Table(title="mitigate verify", show_lines=False)
    columns = [
        "failure mode",
        "fault",
        "detected in",
        "mitigated by",
        "lost",
        "duplicated",
        "recovered in",
        "verdict",
    ]
    if verdicts:
        columns.append("mitigations shown necessary")
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name == "failure mode")
    for r in results:
        style = _STYLE[r.verdict]
        label = r.id if r.mutation is None else f"{r.id} (without {r.mutation})"
        cells = [
            label,
            r.fault or "-",
            fmt_seconds(r.detected_s),
            ", ".join(r.mitigated_by) or "-",
            fmt_count(r.lost),
            fmt_count(r.duplicated),
            fmt_seconds(r.recovered_s),
            f"[{style}]{r.verdict}[/{style}]",
        ]
        if verdicts:
            cells.append(necessity_cell(verdicts_for(r, verdicts)))
        table.add_row(*cells)
    return table


def necessity_cell(verdicts: Sequence[MitigationVerdict]) -> str:
    """The verdicts of one row, one per line, killed in green and survived in red."""
    styles = {"killed": "green", "survived": "red", "error": "magenta"}
    lines = [f"[{styles[v.outcome]}]{escape(v.describe())}[/]" for v in verdicts]
    return "\n".join(lines) or "-"


def print_results(
    results: Sequence[ExperimentResult],
    console: Console,
    verdicts: Sequence[MitigationVerdict] = (),
) -> None:
    console.print(results_table(results, verdicts))
    for r in results:
        if r.verdict != "verified" and r.reason:
            console.print(f"[{_STYLE[r.verdict]}]{r.service} {r.id}[/]: {r.reason}")
