"""`mitigate verify --out DIR` writes its journal and report with normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app

SERVICE = """\
from mitigate.chaos import experiment


@experiment("probe.ok", failure_modes=["probe.fm.1"])
async def ok(run):
    run.detected("a probe")
    run.expect("embedded", run.uses("embedded"), run.backend)
"""


def verify(tmp_path: Path, out: Path) -> None:
    folder = tmp_path / "probe"
    folder.mkdir(exist_ok=True)
    (folder / "experiments.py").write_text(SERVICE)
    result = CliRunner().invoke(app, ["verify", str(folder), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_journal_and_report_are_0644_under_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        verify(tmp_path, tmp_path / "out")
    finally:
        os.umask(old)
    assert mode(tmp_path / "out" / "verify.json") == 0o644
    assert mode(tmp_path / "out" / "report.html") == 0o644


def test_an_existing_journal_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "verify.json").write_text("{}")
    (out / "verify.json").chmod(0o640)
    verify(tmp_path, out)
    assert mode(out / "verify.json") == 0o640
    assert (out / "verify.json").read_text() != "{}"
