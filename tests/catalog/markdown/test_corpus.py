"""The importer on documents in the wild: one short document of our own per shape found in
public FAILURE_MODES documents (tests/catalog/markdown/corpus/, each naming the public
document it stands for and how many failure modes it holds).

Recall = failure modes found / failure modes present, over the whole corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mitigate.catalog.lint import lint_file
from mitigate.catalog.markdown import import_markdown
from mitigate.cli import app

CORPUS = Path(__file__).resolve().parent / "corpus"
DOCUMENTS = sorted(CORPUS.glob("*.md"))
# lint may only name these gaps in a drafted catalog: no error, no other warning
GAPS = {
    "fm-no-detection",
    "fm-no-mitigation",
    "fm-no-runbook",
    "fm-no-experiment",
    "principle-no-experiment",
}

runner = CliRunner()


def expected(path: Path) -> int:
    head = path.read_text(encoding="utf-8").split("-->", 1)[0]
    assert head.startswith("<!-- stands for: "), f"{path.name}: name the public document"
    found = re.search(r"expected failure modes: (\d+)", head)
    assert found is not None, f"{path.name}: write the expected count in the comment"
    return int(found[1])


def found(path: Path) -> int:
    result = import_markdown(path.read_text(encoding="utf-8"), source=path.name)
    return len(result.catalog.failure_modes)


def test_the_corpus_covers_many_shapes() -> None:
    assert len(DOCUMENTS) >= 15


def test_a_document_of_unread_shape_lists_its_headings_and_prose() -> None:
    path = CORPUS / "prose_sections.md"
    result = import_markdown(path.read_text(encoding="utf-8"))
    assert result.catalog.failure_modes == []
    lines = {item.line for item in result.unmapped}
    assert {15, 17, 20, 22} <= lines  # both headings and both paragraphs


def known_miss(path: Path) -> bool:
    """The comment says "known miss: <why>": a shape the importer does not read yet."""
    return "known miss:" in path.read_text(encoding="utf-8").split("-->", 1)[0]


READ = [path for path in DOCUMENTS if not known_miss(path)]
MISSED = [path for path in DOCUMENTS if known_miss(path)]


@pytest.mark.parametrize("path", READ, ids=lambda p: p.stem)
def test_each_document_yields_its_failure_modes(path: Path) -> None:
    assert found(path) == expected(path)


@pytest.mark.parametrize("path", MISSED, ids=lambda p: p.stem)
@pytest.mark.xfail(strict=True, reason="a known miss, named in the document's comment")
def test_known_misses_are_still_missed(path: Path) -> None:
    assert found(path) == expected(path)


def test_recall_over_the_corpus() -> None:
    """Recall = found / present, each document counting at most what it holds."""
    present = sum(expected(path) for path in DOCUMENTS)
    hits = sum(min(found(path), expected(path)) for path in DOCUMENTS)
    missed = sum(expected(path) for path in MISSED)
    assert hits == present - missed, f"recall {hits}/{present}"
    assert hits / present >= 0.9, f"recall {hits}/{present}"


@pytest.mark.parametrize("path", READ, ids=lambda p: p.stem)
def test_import_then_lint_names_only_gaps(path: Path, tmp_path: Path) -> None:
    """`import DOC -o c.yaml && lint c.yaml`: only named gaps, which are warnings."""
    target = tmp_path / "c.yaml"
    result = runner.invoke(app, ["catalog", "import", str(path), "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"wrote \d+ failure modes, \d+ policies, \d+ unmapped lines to .*\n", result.stdout
    )
    findings = lint_file(target)
    assert {f.code for f in findings} <= GAPS, [str(f) for f in findings if f.code not in GAPS]
    lint = runner.invoke(app, ["catalog", "lint", str(target)])
    assert lint.exit_code == 0, lint.output  # gaps are warnings; --strict fails on them
    strict = runner.invoke(app, ["catalog", "lint", "--strict", str(target)])
    assert strict.exit_code == (1 if findings else 0)


def test_the_heading_per_failure_mode_with_labelled_bullets_shape() -> None:
    text = (CORPUS / "labelled_bullets_trigger.md").read_text(encoding="utf-8")
    catalog = import_markdown(text, source="labelled_bullets_trigger.md").catalog
    assert catalog.service == "ledger-ingest"
    first = catalog.failure_modes[0]
    assert first.title == "Worker restart under load"
    assert first.trigger is not None and first.trigger.startswith("the ledger worker is killed")
    assert first.automatic_mitigation is not None
    assert first.automatic_mitigation.startswith("intake keeps accepting")
    assert first.detection is not None and "ledger_consumer_lag" in first.detection


def test_paragraph_labels_and_field_subsections_are_read() -> None:
    text = (CORPUS / "bold_paragraph_labels.md").read_text(encoding="utf-8")
    modes = import_markdown(text).catalog.failure_modes
    assert [m.title for m in modes][:2] == [
        "F1: Leader dies before dispatch",
        "F2: Leader election flap",
    ]
    assert modes[0].trigger is not None and "crashes before dispatching" in modes[0].trigger
    text = (CORPUS / "runbook_subsections.md").read_text(encoding="utf-8")
    first = import_markdown(text).catalog.failure_modes[0]
    assert first.trigger is not None and first.trigger.startswith("A connection exists")
    assert first.symptom is not None and "Blank map tiles" in first.symptom


def test_a_summary_table_repeating_sections_adds_nothing_but_is_listed() -> None:
    text = (CORPUS / "bold_colon_inside.md").read_text(encoding="utf-8")
    result = import_markdown(text)
    assert [m.title for m in result.catalog.failure_modes] == [
        "Follower failure",
        "Leader failure",
        "Quorum loss",
    ]
    lines = text.splitlines()
    listed = {item.line: item.text for item in result.unmapped}
    follower_row = next(i + 1 for i, line in enumerate(lines) if line.startswith("| Follower |"))
    assert "repeats the failure mode" in listed[follower_row]


def test_a_table_without_settings_drafts_no_policy() -> None:
    """A "Detection time | Recovery time" summary is not a breaker table."""
    text = (CORPUS / "bold_paragraph_labels.md").read_text(encoding="utf-8")
    result = import_markdown(text)
    assert result.catalog.policies == {}
    assert any("Leader crash" in item.text for item in result.unmapped)


def test_prose_retries_become_policies_linked_by_target() -> None:
    text = (CORPUS / "labelled_bullets_trigger.md").read_text(encoding="utf-8")
    catalog = import_markdown(text).catalog
    stall = catalog.failure_modes[2]
    assert stall.mitigated_by == ["store-write.stall"]
    retry = catalog.policies["store-write.stall"].retry
    assert retry is not None and (retry.max, str(retry.budget)) == (5, "5m")
    assert retry.backoff == "exp 1s–30s" and "assumed" in (retry.description or "")


def test_prose_retry_with_listed_delays() -> None:
    doc = (
        "# Billing failure modes\n\n## Card network down\n\n"
        "- Trigger: the card network answers 503.\n"
        "- Mitigation: retried with exponential backoff (1s, 3s, 9s).\n"
    )
    catalog = import_markdown(doc).catalog
    [mode] = catalog.failure_modes
    [target] = mode.mitigated_by
    retry = catalog.policies[target].retry
    assert retry is not None and (retry.max, retry.backoff) == (3, "1s, 3s, 9s")


def test_policies_and_experiments_link_to_failure_modes_by_target_name() -> None:
    doc = (
        "# Ledger failure modes\n\n## Database down\n\n"
        "- Trigger: the database refuses connections.\n"
        "- Mitigation: the breaker opens; requests fail fast.\n\n"
        "## Circuit breakers\n\n| Dependency | Trip | Reset |\n|---|---|---|\n"
        "| Database | 5 failures / 30s | 60s |\n\n"
        "## Chaos experiments\n\n- Kill the database for 30s; verify requests fail fast.\n"
    )
    catalog = import_markdown(doc).catalog
    [mode] = catalog.failure_modes
    assert mode.mitigated_by == ["database"]
    [experiment] = catalog.experiments
    assert experiment.target == "database" and experiment.failure_modes == [mode.id]


def test_service_name_comes_from_the_title_not_the_prose() -> None:
    doc = "# Failure modes\n\nThe billing service retries.\n\n## Disk full\n\n" + (
        "- Trigger: disk full.\n- Mitigation: rotate logs.\n"
    )
    assert import_markdown(doc, source="checkout.md").catalog.service == "checkout"
    assert import_markdown(doc).catalog.service == "service"
    titled = doc.replace("# Failure modes", "# Payments failure modes")
    assert import_markdown(titled, source="x.md").catalog.service == "payments"


def test_html_comments_and_rules_are_not_content() -> None:
    doc = "<!-- a note\nover two lines -->\n# Cache failure modes\n\n---\n\n## Evicted\n\n" + (
        "- Trigger: memory full.\n- Mitigation: evict.\n"
    )
    result = import_markdown(doc)
    assert result.unmapped == [] and len(result.catalog.failure_modes) == 1


# ------------------------------------------------------------------ the CLI's defects


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["catalog", "import", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_dash_reads_standard_input(tmp_path: Path) -> None:
    data = (CORPUS / "labelled_bullets_trigger.md").read_bytes()
    target = tmp_path / "c.yaml"
    code, out, _err = run("-", "-o", str(target), stdin=data)
    assert code == 0
    assert out == f"wrote 3 failure modes, 1 policies, 0 unmapped lines to {target}\n"
    assert yaml.safe_load(target.read_text())["service"] == "ledger-ingest"


def test_binary_input_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_bytes(b"# Title\n\x00\x01\x02")
    code, out, err = run(str(path), "-o", str(tmp_path / "c.yaml"))
    assert code == 2 and "binary file" in err and "Traceback" not in err + out
    assert not (tmp_path / "c.yaml").exists()


def test_non_utf8_input_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_bytes("# Caf\u00e9 failure modes\n".encode("latin-1"))
    code, out, err = run(str(path))
    assert code == 2 and "not UTF-8" in err and "0xe9" in err and "Traceback" not in err + out


def test_a_document_without_failure_modes_warns_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nSome prose.\n\n- an item\n")
    target = tmp_path / "c.yaml"
    code, out, err = run(str(path), "-o", str(target))
    assert code == 1 and "no failure mode found" in err
    assert f"{path}:3: not mapped: Some prose." in err  # never dropped silently
    assert f"{path}:5: not mapped: an item" in err
    assert out.startswith("wrote 0 failure modes, 0 policies, 2 unmapped lines")
    strict = tmp_path / "strict.yaml"
    code, _out, err = run(str(path), "-o", str(strict), "--strict")
    assert code == 2 and "nothing written" in err and not strict.exists()


def test_a_table_only_document_of_unknown_shape_is_not_silent(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    path.write_text("# Matrix\n\n| Dependency | Rate limiting |\n|---|---|\n| Cache | open |\n")
    code, _out, err = run(str(path))
    assert code == 1
    assert f"{path}:5: not mapped: Cache | open" in err  # with why it could not be read
