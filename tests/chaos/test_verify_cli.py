"""`mitigate verify` for people and for CI: --only, progress lines in a log, untested
rows, the journal's run facts, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app

CATALOG = """\
service: probe
failure_modes:
  - {id: probe.fm.1, title: covered}
  - {id: probe.fm.2, title: covered too}
  - {id: probe.fm.3, title: nobody tests me}
"""

EXPERIMENTS = """\
import threading

from mitigate.chaos import experiment


@experiment("probe.fm.1", failure_modes=["probe.fm.1"])
async def one(run):
    run.detected("a probe")
    run.expect("holds", True)


@experiment("probe.fm.2", failure_modes=["probe.fm.2"])
async def two(run):
    if {slow}:
        import asyncio
        await asyncio.to_thread(threading.Event().wait, 3)  # room for a Ctrl-C
    run.detected("a probe")
    run.expect("holds", True)
"""


def _service(tmp_path: Path, *, slow: bool = False) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "catalog.yaml").write_text(CATALOG)
    (folder / "experiments.py").write_text(EXPERIMENTS.format(slow=slow))
    return folder


def test_untested_rows_say_why_and_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["verify", str(_service(tmp_path)), "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "untested" in result.stdout and "no experiment names this failure mode" in (
        result.stdout
    )
    # without a terminal: one progress line per row, with its time
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [p.split(" (")[0] for p in progress] == [
        "[1/3] probe.fm.1 verified",
        "[2/3] probe.fm.2 verified",
        "[3/3] probe.fm.3 untested",
    ]
    journal = json.loads((out / "verify.json").read_text())
    assert journal["summary"] == {"verified": 2, "failed": 0, "untested": 1, "error": 0}
    run = journal["run"]
    assert run["seed"] == 0 and run["backend"] == "embedded" and run["interrupted"] is False
    assert run["started_at"] <= run["ended_at"] and run["duration_s"] >= 0
    assert run["version"] and run["platform"] and run["python"]
    assert run["git_sha"] is None or len(run["git_sha"]) == 40
    row = journal["results"][0]
    assert row["checks"][0]["name"] == "holds" and "after_s" in row["checks"][0]
    assert row["elapsed_s"] is not None


def test_only_selects_rows_by_glob(tmp_path: Path) -> None:
    service = _service(tmp_path)
    out = tmp_path / "out"
    picked = CliRunner().invoke(
        app, ["verify", str(service), "--only", "probe.fm.[12]", "--json", "--out", str(out)]
    )
    assert picked.exit_code == 0, picked.output
    assert [r["id"] for r in json.loads(picked.stdout)["results"]] == ["probe.fm.1", "probe.fm.2"]
    none = CliRunner().invoke(app, ["verify", str(service), "--only", "nope.*", "--out", str(out)])
    assert none.exit_code == 2 and "no row matches --only" in none.output


def test_ctrl_c_writes_the_journal_marked_interrupted_and_exits_130(tmp_path: Path) -> None:
    service = _service(tmp_path, slow=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mitigate.cli", "verify", str(service), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first row is done: the second is running
    assert first.startswith("[1/3] probe.fm.1 verified"), first
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted after 1 row(s)" in " ".join(stderr.split())
    journal = json.loads((out / "verify.json").read_text())
    assert journal["run"]["interrupted"] is True
    assert [r["id"] for r in journal["results"]] == ["probe.fm.1"]
