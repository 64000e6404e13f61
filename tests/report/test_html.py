"""The HTML report: self-contained, one SVG timeline per experiment, and it renders in a
real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mitigate import AlertRaised, BreakerClosed, BreakerOpened, FallbackUsed, RetryScheduled
from mitigate.chaos import Outage, Run, experiment
from mitigate.chaos.experiment import ExperimentResult, spec_of
from mitigate.chaos.runner import Runner, Suite
from mitigate.report import journal, render_html
from tests.conftest import in_ci


def _results() -> list[ExperimentResult]:
    @experiment("demo.outage", failure_modes=["demo.fm.1"], fault="outage of dep.call")
    async def outage(run: Run) -> None:
        async with run.fault(Outage("dep.call"), duration=20):
            for i in range(10):
                now = run.clock.now()
                run.timeline.call(now, now + 0.2, "error" if i < 3 else "degraded", "call")
                if i == 0:
                    run.recorder(RetryScheduled(target="dep.call", at=now, delay=0.2))
                    run.timeline.observe(RetryScheduled(target="dep.call", at=now, delay=0.2))
                if i == 2:
                    for event in (
                        BreakerOpened(target="dep.call", at=now, failures=5),
                        AlertRaised(target="dep.call", at=now, rule="dep-down"),
                    ):
                        run.recorder(event)
                        run.timeline.observe(event)
                if i > 3:
                    run.timeline.observe(FallbackUsed(target="dep.call", at=now, reason="open"))
                await run.wait(2)
        run.timeline.observe(BreakerClosed(target="dep.call", at=run.clock.now()))
        await run.expect_event("breaker.opened", within=10)

    @experiment("demo.quiet")
    async def quiet(run: Run) -> None:
        run.timeline.call(0.0, 0.1, "ok", "call")
        run.expect("calm", False, "deliberately failing check")

    suite = Suite(
        service="demo",
        root=Path("."),
        experiments=[s for s in (spec_of(outage), spec_of(quiet)) if s],
    )
    return Runner().run_suite(suite)


def test_html_is_self_contained_with_one_timeline_per_experiment() -> None:
    results = _results()
    page = render_html(results)
    assert page.count('<svg class="timeline"') == 2
    assert 'data-experiment="demo.outage"' in page
    # The only script is the inline filter; nothing is loaded from anywhere.
    assert re.findall(r"<(script|link|img)\b[^>]*>", page) == ["script"]
    assert re.search(r"<script\s+src", page) is None
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * 2
    outage_svg = page.split('data-experiment="demo.outage"')[1].split("</svg>")[0]
    assert outage_svg.count('class="fault"') == 1
    assert outage_svg.count('class="call error"') == 3
    assert 'class="breaker open"' in outage_svg
    assert 'class="retry"' in outage_svg and 'class="fallback"' in outage_svg
    assert 'class="alert"' in outage_svg


def test_journal_keeps_timelines_and_verdicts() -> None:
    results = _results()
    data = journal(results)
    assert data["summary"] == {"verified": 1, "failed": 1, "untested": 0, "error": 0}
    first = data["results"][0]
    assert first["detected_s"] == 4.0
    assert first["timeline"]["windows"][0]["end"] == 20.0


def _chromium() -> str:
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        if in_ci():
            pytest.fail("chromium is required under CI=true")
        pytest.skip("chromium is not installed")
    return path


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    results = _results()
    page = tmp_path / "report.html"
    page.write_text(render_html(results), encoding="utf-8")
    shot = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,1400",
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The browser parsed the page into one SVG timeline per experiment.
    assert len(re.findall(r'<svg class="timeline"', dom.stdout)) == len(results)
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=90,
        env=env,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank page of this size compresses to a few KB
