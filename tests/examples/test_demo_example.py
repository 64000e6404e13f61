"""The demonstration of `mitigate demo` is one of the examples the runner verifies."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_demo_example_is_verified(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["verify", str(ROOT / "examples" / "demo"), "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.stdout
    results = json.loads(result.stdout)["results"]
    assert [(r["id"], r["verdict"]) for r in results] == [("demo.chaos.outage", "verified")]


def test_default_verify_runs_every_example(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["verify", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    services = {r["service"] for r in json.loads(result.stdout)["results"]}
    assert {"demo", "checkout"} <= services
