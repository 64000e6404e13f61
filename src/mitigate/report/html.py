"""The HTML report of a verification run: one self-contained file (inline CSS and SVG,
no script, no external asset), a summary table and one section per experiment with its
timeline, checks and measurements.

>>> from mitigate.chaos.experiment import ExperimentResult
>>> page = render_html([ExperimentResult("shop", "shop.fm.1", "Gateway down",
...                                      "failure_mode", "verified")])
>>> "<html" in page and "shop.fm.1" in page and "http" not in page.replace(
...     "http://www.w3.org/2000/svg", "")
True

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, verdicts_for
from mitigate.report.svg import COLOURS, timeline_svg
from mitigate.report.terminal import fmt_count, fmt_seconds

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:4px 8px}
th{background:#f5f5f5;text-align:left}
.verified{color:#2e7d32;font-weight:600} .failed{color:#c62828;font-weight:600}
.error{color:#6a1b9a;font-weight:600} .pass{color:#2e7d32} .fail{color:#c62828}
section{border-top:1px solid #eee;margin-top:18px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
"""


def render_html(
    results: Sequence[ExperimentResult],
    *,
    title: str = "mitigate verify",
    verdicts: Sequence[MitigationVerdict] = (),
) -> str:
    """The page; with ``verdicts`` (``--mutate``) each row also says which of its
    mitigations were shown necessary and which experiment caught each."""
    verified = sum(r.verdict == "verified" for r in results)
    rows = "".join(_row(r, verdicts) for r in results)
    extra_head = "<th>mitigations shown necessary</th>" if verdicts else ""
    sections = "".join(_section(r) for r in results if r.timeline is not None)
    legend = "".join(
        f'<span><i style="background:{COLOURS[k]}"></i>{label}</span>'
        for k, label in (
            ("fault", "fault window"),
            ("ok", "call ok"),
            ("degraded", "call served by fallback"),
            ("error", "call failed"),
            ("open", "breaker open"),
            ("half_open", "breaker half-open"),
            ("retry", "retry"),
            ("fallback", "fallback"),
            ("alert", "alert"),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{verified} of {len(results)} verified.</p>"
        "<table><thead><tr><th>service</th><th>failure mode / experiment</th><th>fault</th>"
        "<th>detected in</th><th>mitigated by</th><th>lost</th><th>duplicated</th>"
        f"<th>recovered in</th><th>verdict</th>{extra_head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f'<p class="legend">{legend}</p>{sections}</body></html>'
    )


def _row(r: ExperimentResult, verdicts: Sequence[MitigationVerdict]) -> str:
    cells = [
        r.service,
        f"{r.id} {r.title}".strip(),
        r.fault or "-",
        fmt_seconds(r.detected_s),
        ", ".join(r.mitigated_by) or "-",
        fmt_count(r.lost),
        fmt_count(r.duplicated),
        fmt_seconds(r.recovered_s),
    ]
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    link = (
        f'<a href="#{escape(_anchor(r))}">{escape(r.verdict)}</a>'
        if r.timeline
        else escape(r.verdict)
    )
    necessity = ""
    if verdicts:
        css = {"killed": "pass", "survived": "fail", "error": "error"}
        items = "".join(
            f'<li class="{css[v.outcome]}">{escape(v.describe())}</li>'
            for v in verdicts_for(r, verdicts)
        )
        necessity = f"<td><ul>{items}</ul></td>" if items else "<td>-</td>"
    return f'<tr>{tds}<td class="{r.verdict}">{link}</td>{necessity}</tr>'


def _anchor(r: ExperimentResult) -> str:
    return f"{r.service}--{r.id}" + (f"--{r.mutation}" if r.mutation else "")


def _section(r: ExperimentResult) -> str:
    assert r.timeline is not None
    origin = r.timeline.start
    checks = "".join(
        f'<li class="{"pass" if c.passed else "fail"}">[{c.phase} @ {c.at - origin:.3g}s] '
        f"{escape(c.name)}{': ' + escape(c.detail) if c.detail else ''}</li>"
        for c in r.checks
    )
    modes = ", ".join(r.failure_modes) or "-"
    facts = (
        f"fault: {escape(r.fault or '-')} · failure modes: {escape(modes)}"
        f" · clock: {r.clock} · rollbacks run: {r.rollbacks}"
        + (f" · mutation: {escape(r.mutation)} removed" if r.mutation else "")
    )
    reason = f"<p>{escape(r.reason)}</p>" if r.reason else ""
    return (
        f'<section id="{escape(_anchor(r))}"><h2>{escape(r.id)} {escape(r.title)} '
        f'<span class="{r.verdict}">{r.verdict}</span></h2><p>{facts}</p>{reason}'
        f"{timeline_svg(r.timeline, r.id)}<ul>{checks}</ul></section>"
    )
