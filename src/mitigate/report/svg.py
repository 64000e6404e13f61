"""An experiment's timeline as one inline SVG: no script, no external asset.

Lanes, top to bottom: the fault windows, the calls coloured by outcome, the breaker
state over time, retries, fallbacks, and alerts. Time runs left to right on the
experiment's clock.

>>> from mitigate.chaos.timeline import Timeline
>>> t = Timeline(start=0.0, end=10.0)
>>> t.window(2.0, 6.0, "outage")
>>> t.call(1.0, 1.1, "ok")
>>> svg = timeline_svg(t, "demo.1")
>>> svg.startswith('<svg class="timeline"'), svg.count("<rect class=\\"fault\\"")
(True, 1)

.. versionadded:: 0.1
"""

from __future__ import annotations

import itertools
from html import escape

from mitigate.chaos.timeline import Timeline

__all__ = ["timeline_svg"]

WIDTH = 900
LEFT = 90
RIGHT = 20
LANE = 26
LANES = ("fault", "calls", "breaker", "retries", "fallbacks", "alerts")
COLOURS = {
    "ok": "#2e7d32",
    "degraded": "#f9a825",
    "error": "#c62828",
    "closed": "#c8e6c9",
    "open": "#ef9a9a",
    "half_open": "#ffe082",
    "fault": "#e57373",
    "retry": "#1565c0",
    "fallback": "#ef6c00",
    "alert": "#6a1b9a",
}
_BREAKER_STATES = {
    "breaker.opened": "open",
    "breaker.half_opened": "half_open",
    "breaker.closed": "closed",
}


def timeline_svg(timeline: Timeline, experiment_id: str) -> str:
    start = timeline.start
    end = timeline.end if timeline.end is not None else start
    times = [c.end for c in timeline.calls] + [e.at for e in timeline.events]
    times += [w.end for w in timeline.windows if w.end is not None]
    end = max([end, *times]) if times else end
    span = max(end - start, 1e-9)
    height = LANE * len(LANES) + 40
    plot = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return round(LEFT + (t - start) / span * plot, 2)

    def y(lane: str) -> int:
        return 10 + LANES.index(lane) * LANE

    out = [
        f'<svg class="timeline" data-experiment="{escape(experiment_id)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="timeline of {escape(experiment_id)}">'
    ]
    for lane in LANES:
        out.append(
            f'<text x="4" y="{y(lane) + 16}" font-size="12" fill="#333">{lane}</text>'
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(lane) + LANE - 2}" '
            f'y2="{y(lane) + LANE - 2}" stroke="#eee"/>'
        )
    for w in timeline.windows:
        w_end = w.end if w.end is not None else end
        out.append(
            f'<rect class="fault" x="{x(w.start)}" y="{y("fault") + 3}" '
            f'width="{max(x(w_end) - x(w.start), 1.0):.2f}" height="{LANE - 8}" '
            f'fill="{COLOURS["fault"]}" opacity="0.75"><title>{escape(w.label)}: '
            f"{w.start - start:.3g}s to {w_end - start:.3g}s</title></rect>"
        )
        shade = max(x(w_end) - x(w.start), 1.0)
        out.append(
            f'<rect x="{x(w.start)}" y="{y("calls")}" width="{shade:.2f}" '
            f'height="{LANE * (len(LANES) - 1)}" fill="{COLOURS["fault"]}" opacity="0.08"/>'
        )
    for c in timeline.calls:
        out.append(
            f'<rect class="call {c.status}" x="{x(c.start)}" y="{y("calls") + 4}" '
            f'width="{max(x(c.end) - x(c.start), 2.0):.2f}" height="{LANE - 10}" '
            f'fill="{COLOURS[c.status]}"><title>{escape(c.name)} {c.status} at '
            f"{c.start - start:.3g}s {escape(c.detail)}</title></rect>"
        )
    out.extend(_breaker(timeline, x, y("breaker"), end))
    marks = {"retry.scheduled": ("retries", "retry"), "fallback.used": ("fallbacks", "fallback")}
    for e in timeline.events:
        if e.name in marks:
            lane, colour = marks[e.name]
            out.append(
                f'<circle class="{colour}" cx="{x(e.at)}" cy="{y(lane) + 12}" r="4" '
                f'fill="{COLOURS[colour]}"><title>{escape(e.name)} {escape(e.target)} at '
                f"{e.at - start:.3g}s {escape(e.detail)}</title></circle>"
            )
        elif e.name == "alert.raised":
            cx, cy = x(e.at), y("alerts") + 12
            out.append(
                f'<polygon class="alert" points="{cx},{cy - 7} {cx + 6},{cy} {cx},{cy + 7} '
                f'{cx - 6},{cy}" fill="{COLOURS["alert"]}"><title>alert at {e.at - start:.3g}s: '
                f"{escape(e.detail)}</title></polygon>"
            )
    axis_y = 10 + LANE * len(LANES) + 14
    for i in range(6):
        t = start + span * i / 5
        out.append(
            f'<text x="{x(t)}" y="{axis_y}" font-size="11" fill="#555" '
            f'text-anchor="middle">{t - start:.3g}s</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _breaker(timeline: Timeline, x: object, top: int, end: float) -> list[str]:
    # One band per breaker target, coloured by state from each change to the next.
    assert callable(x)
    changes: dict[str, list[tuple[float, str]]] = {}
    for e in timeline.events:
        state = _BREAKER_STATES.get(e.name)
        if state is not None:
            changes.setdefault(e.target, []).append((e.at, state))
    out: list[str] = []
    for target, states in changes.items():
        points = [(timeline.start, "closed"), *states, (end, states[-1][1])]
        for (t0, state), (t1, _) in itertools.pairwise(points):
            out.append(
                f'<rect class="breaker {state}" x="{x(t0)}" y="{top + 4}" '
                f'width="{max(x(t1) - x(t0), 0.5):.2f}" height="{LANE - 10}" '
                f'fill="{COLOURS[state]}"><title>{escape(target)} breaker {state}</title></rect>'
            )
    return out
