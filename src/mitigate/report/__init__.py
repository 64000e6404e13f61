"""Reports of a verification run: a terminal table, a JSON journal and an HTML page with
an inline SVG timeline per experiment.

.. versionadded:: 0.1
"""

from mitigate.report.html import render_html
from mitigate.report.journal import journal, write_journal
from mitigate.report.svg import timeline_svg
from mitigate.report.terminal import print_results, results_table

__all__ = [
    "journal",
    "print_results",
    "render_html",
    "results_table",
    "timeline_svg",
    "write_journal",
]
