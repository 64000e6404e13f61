"""The HTML report in a real browser (headless Chromium): with 150 rows, the filters by
service and verdict show exactly the rows asked for, also from a shared link's hash."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mitigate.chaos.experiment import ExperimentResult
from mitigate.report.html import render_html
from tests.conftest import in_ci

VERDICTS = ("verified", "failed", "untested", "error")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if in_ci():
            pytest.fail("chromium is not installed, and CI=true requires it")
        pytest.skip("chromium is not installed (Debian package: chromium)")
    return path


def _rows() -> list[ExperimentResult]:
    rows = []
    for i in range(150):
        service = ("content", "theme", "comms")[i % 3]
        verdict = VERDICTS[i % 4]
        rows.append(
            ExperimentResult(
                service, f"{service}.fm.{i}", f"row {i}", "failure_mode", verdict,
                reason="" if verdict == "verified" else f"because {i}",
                source=f"seed 00{i % 3} line {i}",
            )
        )  # fmt: skip
    return rows


def _dom(page: Path, fragment: str) -> str:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
            "--dump-dom",
            f"file://{page}#{fragment}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _shown(dom: str) -> list[str]:
    rows = re.findall(r"<tr data-row=\"\"[^>]*>", dom)
    return [re.search(r'data-verdict="(\w+)"', r).group(1) + ":" +  # type: ignore[union-attr]
            re.search(r'data-service="(\w+)"', r).group(1)  # type: ignore[union-attr]
            for r in rows if " hidden" not in r]  # fmt: skip


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("", 150),
        ("service=theme", 50),
        ("verdict=failed", 38),
        ("service=comms&verdict=untested", 13),
    ],
)
def test_filters_show_exactly_the_rows_asked_for(
    tmp_path: Path, fragment: str, expected: int
) -> None:
    rows = _rows()
    page = tmp_path / "report.html"
    page.write_text(render_html(rows, run={"started_at": "2026-12-04T20:00:00+00:00"}))
    dom = _dom(page, fragment)
    shown = _shown(dom)
    assert len(shown) == expected
    want = dict(p.split("=") for p in fragment.split("&") if p)
    for item in shown:
        verdict, service = item.split(":")
        assert want.get("verdict", verdict) == verdict
        assert want.get("service", service) == service
    assert f"{expected} row(s) shown" in dom
    # the summary per service and seed is there whatever the filter
    assert re.search(r"<td>theme</td><td>seed 001</td>", dom)
