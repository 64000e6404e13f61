"""The demonstration of `mitigate demo` is one of the examples the runner verifies."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app
from tests.background import background_run, finished

ROOT = Path(__file__).resolve().parents[2]


def test_demo_example_is_verified(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["verify", str(ROOT / "examples" / "demo"), "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stdout
    results = json.loads(result.stdout)["results"]
    assert [(r["id"], r["verdict"]) for r in results] == [("demo.chaos.outage", "verified")]


@background_run("default-verify", "verify", "--json", cpu=True)
def test_default_verify_runs_every_example() -> None:
    # The README's main job, as a user runs it: every catalog in services/ and examples/.
    run = finished("default-verify")
    assert run.returncode == 0, run.output[-4000:]
    results = run.journal["results"]
    failed = [(r["id"], r["why"]) for r in results if r["verdict"] != "verified"]
    assert not failed, failed
    services = {r["service"] for r in results}
    assert {"demo", "checkout", "content", "authoring", "theme", "comms", "edge"} <= services
