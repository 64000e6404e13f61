"""The HTML report of a verification run: one self-contained file (inline CSS, SVG and a
few lines of script for the filters, no external asset): when and how it ran, a summary
per service and its seed, one row per result with why, filters by service and verdict,
and one section per experiment with its timeline, checks and measurements.

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
from typing import Any

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
.untested{color:#b26a00;font-weight:600} .meta{color:#555;font-size:13px}
.filters{margin:12px 0} .filters label{margin-right:16px;font-size:13px}
section{border-top:1px solid #eee;margin-top:18px}
.wide{overflow-x:auto} td ul{margin:0;padding-left:14px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
"""


_SCRIPT = """
var fs=document.getElementById('f-service'), fv=document.getElementById('f-verdict');
function applyFilters(){
  var s=fs.value, v=fv.value, shown=0;
  document.querySelectorAll('[data-row]').forEach(function(el){
    var ok=(!s||el.dataset.service===s)&&(!v||el.dataset.verdict===v);
    el.hidden=!ok; if(ok&&el.tagName==='TR'){shown++;}
  });
  document.getElementById('f-count').textContent=shown+' row(s) shown';
}
function fromHash(){
  var p=new URLSearchParams(location.hash.slice(1));
  fs.value=p.get('service')||''; fv.value=p.get('verdict')||''; applyFilters();
}
function toHash(){
  var p=new URLSearchParams();
  if(fs.value){p.set('service',fs.value);} if(fv.value){p.set('verdict',fv.value);}
  history.replaceState(null,'','#'+p.toString()); applyFilters();
}
fs.addEventListener('change',toHash); fv.addEventListener('change',toHash);
window.addEventListener('hashchange',fromHash);
fromHash();
"""

VERDICT_ORDER = ("verified", "failed", "untested", "error")


def render_html(
    results: Sequence[ExperimentResult],
    *,
    title: str = "mitigate verify",
    verdicts: Sequence[MitigationVerdict] = (),
    run: dict[str, Any] | None = None,
) -> str:
    """The page; with ``verdicts`` (``--mutate``) each row also says which of its
    mitigations were shown necessary and which experiment caught each; ``run`` is the
    journal's ``run`` block (date, version, backend...)."""
    results = [r for r in results if r.mutation is None] or list(results)
    verified = sum(r.verdict == "verified" for r in results)
    rows = "".join(_row(r, verdicts) for r in results)
    extra_head = "<th>mitigations shown necessary</th>" if verdicts else ""
    sections = "".join(_section(r) for r in results if r.timeline is not None)
    services = sorted({r.service for r in results})
    options = "".join(f'<option value="{escape(x)}">{escape(x)}</option>' for x in services)
    verdict_options = "".join(f'<option value="{v}">{v}</option>' for v in VERDICT_ORDER)
    filters = (
        '<div class="filters"><label>service <select id="f-service"><option value="">all'
        f'</option>{options}</select></label><label>verdict <select id="f-verdict">'
        f'<option value="">all</option>{verdict_options}</select></label>'
        '<span id="f-count" class="meta"></span></div>'
    )
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
        f"<h1>{escape(title)}</h1>{_meta(run)}<p>{verified} of {len(results)} verified.</p>"
        f"{_summary(results)}{filters}"
        '<div class="wide"><table id="rows"><thead><tr><th>service</th>'
        "<th>failure mode / experiment</th>"
        "<th>seed</th><th>fault</th><th>detected in</th><th>mitigated by</th><th>lost</th>"
        "<th>duplicated</th><th>recovered in</th><th>verdict</th><th>why</th>"
        f"{extra_head}</tr></thead><tbody>{rows}</tbody></table></div>"
        f'<p class="legend">{legend}</p>{sections}<script>{_SCRIPT}</script></body></html>'
    )


def _meta(run: dict[str, Any] | None) -> str:
    if not run:
        return ""
    facts = [
        ("started", run.get("started_at")),
        ("took", f"{run['duration_s']:.1f}s" if run.get("duration_s") is not None else None),
        ("mitigate", run.get("version")),
        ("commit", (run.get("git_sha") or "")[:12] or None),
        ("backend", run.get("backend")),
        ("clock", run.get("clock")),
        ("seed", run.get("seed")),
        ("platform", run.get("platform")),
        ("only", ", ".join(run.get("only") or []) or None),
    ]
    said = " · ".join(f"{k}: {escape(str(v))}" for k, v in facts if v not in (None, ""))
    stop = ' <strong class="failed">interrupted</strong>' if run.get("interrupted") else ""
    return f'<p class="meta">{said}{stop}</p>'


def _summary(results: Sequence[ExperimentResult]) -> str:
    """Rows per service and seed document, by verdict."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for r in results:
        seed = r.source.split(" line ")[0] if r.source else "-"
        counts = groups.setdefault((r.service, seed), dict.fromkeys(VERDICT_ORDER, 0))
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    head = "".join(f"<th>{v}</th>" for v in VERDICT_ORDER)
    body = "".join(
        f"<tr><td>{escape(service)}</td><td>{escape(seed)}</td>"
        + "".join(f'<td class="{v if n else ""}">{n}</td>' for v, n in counts.items())
        + "</tr>"
        for (service, seed), counts in sorted(groups.items())
    )
    return (
        '<table id="summary"><thead><tr><th>service</th><th>seed / source</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _row(r: ExperimentResult, verdicts: Sequence[MitigationVerdict]) -> str:
    cells = [
        r.service,
        f"{r.id} {r.title}".strip(),
        r.source or "-",
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
    data = f'data-row data-service="{escape(r.service)}" data-verdict="{r.verdict}"'
    why = f"<td>{escape(r.why())}</td>"
    return f'<tr {data}>{tds}<td class="{r.verdict}">{link}</td>{why}{necessity}</tr>'


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
    modes = ", ".join((*r.failure_modes, *r.principles)) or "-"
    facts = (
        f"fault: {escape(r.fault or '-')} · rows proven: {escape(modes)}"
        f" · clock: {r.clock} · rollbacks run: {r.rollbacks}"
        + (f" · mutation: {escape(r.mutation)} removed" if r.mutation else "")
    )
    reason = f"<p>{escape(r.reason)}</p>" if r.reason else ""
    data = f'data-row data-service="{escape(r.service)}" data-verdict="{r.verdict}"'
    return (
        f'<section {data} id="{escape(_anchor(r))}"><h2>{escape(r.id)} {escape(r.title)} '
        f'<span class="{r.verdict}">{r.verdict}</span></h2><p>{facts}</p>{reason}'
        f"{timeline_svg(r.timeline, r.id)}<ul>{checks}</ul></section>"
    )
