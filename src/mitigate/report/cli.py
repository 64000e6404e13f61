"""``mitigate report JOURNAL``: render the HTML report again from a saved journal, and
JUnit XML for CI systems (``--junit FILE``).

Exit codes: 0 when written, 2 when the journal is missing or not a journal.

.. versionadded:: 0.1
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mitigate.errors import ConfigError
from mitigate.files import write_text_atomic
from mitigate.report.html import render_html
from mitigate.report.journal import read_journal
from mitigate.report.junit import junit_xml
from mitigate.report.terminal import summary_line

__all__ = ["report"]


def report(
    journal: Annotated[Path, typer.Argument(help="The verify.json a `mitigate verify` wrote.")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="The HTML file (default: report.html beside it)."),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Also write JUnit XML here (one testcase per row)."),
    ] = None,
) -> None:
    """Render a saved journal as the HTML report (and JUnit XML)."""
    console = Console()
    try:
        saved = read_journal(journal)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    target = out or journal.with_name("report.html")
    page = render_html(saved.results, verdicts=saved.verdicts, run=saved.run)
    write_text_atomic(target, page)
    console.print(f"report: {target}")
    if junit is not None:
        write_text_atomic(junit, junit_xml(saved.results))
        console.print(f"junit: {junit}")
    console.print(summary_line(saved.results))
