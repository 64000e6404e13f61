"""`mitigate catalog ...`: exit codes, --json, nothing written on bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mitigate.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalogs" / "content.yaml"
BAD = "service: s\npolicies:\n  a.b:\n    retry: {max: 3, backoff: '50ms, soon', budget: 1s}\n"

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["catalog", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_schema_is_json_schema(tmp_path: Path) -> None:
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "policies" in schema["properties"]
    target = tmp_path / "schema.json"
    assert run("schema", "--out", str(target))[0] == 0
    assert json.loads(target.read_text()) == schema


def test_lint_exit_codes(tmp_path: Path, bad: Path) -> None:
    clean = tmp_path / "clean.yaml"
    clean.write_text("service: s\npolicies:\n  a.b: {timeout: 1s}\n")
    code, out, _ = run("lint", str(clean))
    assert (code, out.strip()) == (0, f"ok {clean}")

    code, out, _ = run("lint", str(bad))
    assert code == 1
    assert f"{bad}:4: error schema: policies.a.b.retry: backoff '50ms, soon'" in out

    broken = tmp_path / "broken.yaml"
    broken.write_text("service: [s\n")
    assert run("lint", str(broken))[0] == 2
    assert run("lint", str(tmp_path / "missing.yaml"))[0] == 2
    assert run("lint", "--ignore", "no-such-code", str(clean))[0] == 2


def test_lint_json(bad: Path) -> None:
    code, out, _ = run("lint", "--json", str(EXAMPLE), str(bad))
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    example, broken = report["files"]
    assert example["file"] == str(EXAMPLE)
    assert {f["level"] for f in example["findings"]} == {"warning"}
    [finding] = broken["findings"]
    assert finding["code"] == "schema"
    assert (finding["file"], finding["line"], finding["field"]) == (
        str(bad),
        4,
        "policies.a.b.retry",
    )


def test_lint_ignore(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("service: s\nfailure_modes:\n  - {id: s.fm.1, title: t}\n")
    args = [
        "--ignore",
        "fm-no-detection",
        "--ignore",
        "fm-no-mitigation",
        "--ignore",
        "fm-no-runbook",
        "--ignore",
        "fm-no-experiment",
    ]
    assert run("lint", *args, str(path))[0] == 0


def test_alerts_for_the_example_pass_promtool(tmp_path: Path) -> None:
    target = tmp_path / "alerts.yaml"
    code, _, err = run("alerts", str(EXAMPLE), "--out", str(target))
    assert code == 0
    assert "skipped content.rule.tamper-repeated: no evaluable condition" in err
    rules = yaml.safe_load(target.read_text())["groups"][0]["rules"]
    assert len(rules) == 9
    tool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(tool).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("promtool is not installed, and CI=true requires it")
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    check = subprocess.run(
        [tool, "check", "rules", str(target)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_alerts_json_lists_skipped_rules() -> None:
    code, out, _ = run("alerts", "--json", str(EXAMPLE))
    assert code == 0
    data = json.loads(out)
    assert data["skipped"] == [
        {
            "rule": "content.rule.tamper-repeated",
            "reason": "no evaluable condition (documentation only)",
        }
    ]
    assert len(data["groups"][0]["rules"]) == 9


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, bad: Path) -> None:
    target = tmp_path / "out" / "alerts.yaml"
    code, out, err = run("alerts", str(bad), "--out", str(target))
    assert code == 2
    assert out == ""
    assert f"{bad}:4: error schema: policies.a.b.retry" in err
    assert not target.exists() and not target.parent.exists()

    code, out, _ = run("alerts", "--json", str(bad))
    assert code == 2
    assert json.loads(out)["findings"][0]["line"] == 4

    unknown_ref = tmp_path / "ref.yaml"
    unknown_ref.write_text("service: s\npolicies:\n  a.b: {fallback: s.none}\n")
    code, _, err = run("show", str(unknown_ref))
    assert code == 2 and "no fallback 's.none'" in err


def test_an_existing_output_file_is_left_alone_on_bad_input(tmp_path: Path, bad: Path) -> None:
    target = tmp_path / "alerts.yaml"
    target.write_text("previous\n")
    assert run("alerts", str(bad), "--out", str(target))[0] == 2
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.yaml", "bad.yaml"]


def test_show(tmp_path: Path) -> None:
    code, out, _ = run("show", str(EXAMPLE))
    assert code == 0
    assert "Content service failure modes (content)" in out
    assert "kms.sign" in out and "content.fm.1.10" in out
    code, out, _ = run("show", "--json", str(EXAMPLE))
    data = json.loads(out)
    assert data["service"] == "content"
    assert data["policies"]["kms.sign"]["retry"] == {
        "id": "content.retry.1",
        "max": 3,
        "backoff": "50ms, 200ms, 500ms",
        "budget": "1s",
    }


# ----------------------------------------------------------------- import / render

DOC = """\
1. Scenarios
1.1 Disk full on the ledger host
- Cause: logs are not rotated.
- Mitigation: rotate and compress logs.
- Runbook: runbooks/ledger/disk.md

:::note
"""


def test_import_drafts_a_catalog_and_lists_what_it_could_not_map(tmp_path: Path) -> None:
    doc = tmp_path / "FAILURE_MODES.md"
    doc.write_text(DOC)
    target = tmp_path / "ledger.yaml"
    code, out, err = run("import", str(doc), "--service", "ledger", "--out", str(target))
    assert code == 0
    assert out == f"wrote 1 failure modes, 0 policies, 1 unmapped lines to {target}\n"
    drafted = yaml.safe_load(target.read_text())
    assert drafted["service"] == "ledger"
    [mode] = drafted["failure_modes"]
    assert (mode["id"], mode["runbook"]) == ("ledger.fm.1.1", "runbooks/ledger/disk.md")
    assert f"{doc}:7: not mapped: :::note" in err
    # the draft is a valid catalog
    assert (
        run(
            "lint",
            "--ignore",
            "fm-no-experiment",
            "--ignore",
            "fm-no-mitigation",
            "--ignore",
            "fm-no-detection",
            "--ignore",
            "rule-not-evaluable",
            "--ignore",
            "runbook-unindexed",
            str(target),
        )[0]
        == 0
    )

    code, out, _ = run("import", str(doc), "--service", "ledger", "--json")
    data = json.loads(out)
    assert data["catalog"]["failure_modes"][0]["title"] == "Disk full on the ledger host"
    assert data["unmapped"] == [{"line": 7, "text": ":::note"}]

    assert run("import", str(doc), "--service", "ledger", "--strict")[0] == 1
    assert run("import", str(tmp_path / "missing.md"))[0] == 2


def test_render_writes_the_document_and_the_runbook_index(tmp_path: Path) -> None:
    document, index = tmp_path / "FAILURE_MODES.md", tmp_path / "RUNBOOKS.md"
    code, _, _ = run("render", str(EXAMPLE), "--out", str(document), "--runbooks", str(index))
    assert code == 0
    text = document.read_text()
    assert "Package build failure" in text and "content.fm.1.10" in text
    assert "runbooks/content/build-failures.md" in index.read_text()
    # import(render(c)) == c, through the commands
    code, out, _ = run("import", str(document), "--json")
    assert code == 0
    assert json.loads(out)["unmapped"] == []
    from mitigate.catalog.model import CatalogModel
    from mitigate.catalog.source import read_catalog

    _, model, _ = read_catalog(EXAMPLE)
    assert CatalogModel.model_validate(json.loads(out)["catalog"]) == model


def test_render_refuses_a_bad_catalog_and_writes_nothing(tmp_path: Path, bad: Path) -> None:
    document = tmp_path / "FAILURE_MODES.md"
    code, out, _ = run(
        "render", str(bad), "--out", str(document), "--runbooks", str(tmp_path / "idx.md")
    )
    assert code == 2 and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
