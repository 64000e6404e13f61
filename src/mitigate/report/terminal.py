"""The terminal report: a compact table (row, verdict, why) that fits 80 columns, a
summary per service, and with ``-v`` the detailed table (fault, detection and recovery
times, mitigations, loss).

>>> fmt_seconds(0.25), fmt_seconds(None), fmt_count(0)
('250ms', '-', '0')

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, verdicts_for

__all__ = [
    "compact_table",
    "fmt_count",
    "fmt_seconds",
    "necessity_cell",
    "print_results",
    "results_table",
    "summary_line",
]

_STYLE = {"verified": "green", "failed": "red", "untested": "yellow", "error": "magenta"}


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


def compact_table(results: Sequence[ExperimentResult], width: int = 80) -> Table:
    """One line per row: id, verdict and why (for a verified row, the first rule that
    detected it, how many more, the delay and the mitigations: ``rule.saga-building +2
    in 325s; retry``), cut to ``width`` columns (``-v`` and the HTML report have the
    rest)."""
    table = Table(title="mitigate verify", box=box.SIMPLE_HEAD, pad_edge=False)
    # Ids are the key: shown whole up to 30 characters; why takes what is left (rich
    # would rather drop a column than cut a long cell, so the cut is made here).
    row_width = min(max((len(r.id) for r in results), default=4), 30)
    # 8 columns go to the table itself: an edge on each side and, between two columns,
    # a pad on each side of the separator; any more and rich cuts the ids instead.
    why_width = max(width - row_width - 8 - 8, 10)
    table.add_column("row", no_wrap=True, overflow="ellipsis", width=row_width)
    table.add_column("verdict", no_wrap=True, width=8)
    table.add_column("why", no_wrap=True, overflow="ellipsis", max_width=why_width)
    for r in results:
        style = _STYLE[r.verdict]
        label = r.id if r.mutation is None else f"{r.id} -{r.mutation}"
        why = r.short_why()
        if len(why) > why_width:
            why = why[: why_width - 1] + "…"
        table.add_row(escape(label), f"[{style}]{r.verdict}[/]", escape(why))
    return table


def summary_line(results: Sequence[ExperimentResult]) -> str:
    """``content: 26 verified`` per service, with the other verdicts when any."""
    services: dict[str, dict[str, int]] = {}
    for r in results:
        if r.mutation is None:
            counts = services.setdefault(r.service, dict.fromkeys(_STYLE, 0))
            counts[r.verdict] += 1
    parts = []
    for service, counts in services.items():
        said = [f"{n} {v}" for v, n in counts.items() if n or v == "verified"]
        parts.append(f"{service}: {', '.join(said)}")
    return "; ".join(parts)


def print_results(
    results: Sequence[ExperimentResult],
    console: Console,
    verdicts: Sequence[MitigationVerdict] = (),
    *,
    verbose: bool = False,
) -> None:
    if verbose:
        console.print(results_table(results, verdicts))
        for r in results:
            if r.verdict != "verified" and r.reason:
                console.print(f"[{_STYLE[r.verdict]}]{r.service} {r.id}[/]: {escape(r.reason)}")
    else:
        console.print(compact_table(results, width=console.width))
    console.print(summary_line(results), soft_wrap=False)
