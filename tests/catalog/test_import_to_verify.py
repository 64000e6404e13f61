"""The path a new user takes: a team's document → `catalog import` → `catalog lint` →
`verify`, end to end on documents of the corpus; rows without experiments are reported
untested, with the reason, and nothing fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.cli import app

CORPUS = Path(__file__).parent / "markdown" / "corpus"


DOCUMENTS = ["bold_colon_inside.md", "labelled_bullets_trigger.md", "table_trigger_detection.md"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_import_lint_verify_end_to_end(tmp_path: Path, document: str) -> None:
    catalog = tmp_path / "c.yaml"
    runner = CliRunner()
    imported = runner.invoke(app, ["catalog", "import", str(CORPUS / document), "-o", str(catalog)])
    assert imported.exit_code == 0, imported.output
    assert "wrote " in imported.stdout and " failure modes" in imported.stdout
    linted = runner.invoke(app, ["catalog", "lint", str(catalog)])
    assert linted.exit_code == 0, linted.output
    out = tmp_path / "out"
    verified = runner.invoke(app, ["verify", str(catalog), "--out", str(out)])
    assert verified.exit_code == 3, verified.output  # nothing failed; rows untested
    journal = json.loads((out / "verify.json").read_text())
    rows = journal["results"]
    assert rows and {r["verdict"] for r in rows} == {"untested"}
    assert {r["reason"] for r in rows} == {"no experiment names this failure mode"}
    assert "untested" in verified.stdout
