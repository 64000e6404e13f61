"""Reading catalog YAML with the line of every key, and locating schema errors."""

from __future__ import annotations

import pytest

from mitigate.catalog.findings import CatalogError
from mitigate.catalog.source import read_yaml, validate

TEXT = """\
service: content
policies:
  kms.sign:
    retry:
      max: three
      backof: 1s
    timeout: [1]
failure_modes:
  - id: content.fm.1
    title: Build fails
    bogus: 1
  - id: content.fm.2
    id: content.fm.3
"""


def findings(text: str) -> list[tuple[int | None, str, str, str]]:
    model, found = validate(read_yaml(text, "c.yaml"))
    assert model is None or not found
    return [(f.line, f.code, f.field, f.message) for f in found]


def test_each_problem_names_file_line_and_field() -> None:
    got = findings(TEXT)
    assert got[0][:3] == (13, "duplicate-key", "failure_modes[1].id")
    assert "first on line 12" in got[0][3]
    by_field = {field: (line, code, message) for line, code, field, message in got[1:]}
    assert by_field["policies.kms.sign.retry.max"][:2] == (5, "schema")
    assert "valid integer" in by_field["policies.kms.sign.retry.max"][2]
    assert by_field["policies.kms.sign.retry.backof"][:2] == (6, "unknown-field")
    # one finding for a value that fits neither branch of "number or notation string"
    assert by_field["policies.kms.sign.timeout"] == (
        7,
        "schema",
        "Input should be a valid number, or a valid string",
    )
    assert by_field["failure_modes[0].bogus"][:2] == (11, "unknown-field")
    assert by_field["failure_modes[1].title"][:2] == (12, "schema")
    assert len(got) == 6


def test_valid_text_gives_a_model() -> None:
    model, found = validate(read_yaml("service: content\ntitle: Content\n"))
    assert found == [] and model is not None and model.title == "Content"


def test_invalid_yaml_is_one_error_with_its_line() -> None:
    with pytest.raises(CatalogError) as caught:
        read_yaml("service: content\npolicies: [a, b\nx: 1\n", "bad.yaml")
    [finding] = caught.value.findings
    assert (finding.code, finding.file, finding.line) == ("yaml", "bad.yaml", 3)
    assert str(caught.value).startswith("[MITIGATE.CONFIG.CATALOG] bad.yaml: 1 problem")


def test_a_catalog_must_be_a_mapping() -> None:
    assert findings("- a\n- b\n") == [
        (1, "schema", "", "a catalog is a mapping (service: ..., policies: ...)")
    ]


def test_aliases_are_refused_at_their_line() -> None:
    # Aliases expand in the loader's walk (a YAML bomb); see test_yaml_limits.py.
    with pytest.raises(CatalogError) as caught:
        read_yaml(
            "service: s\n"
            "policies:\n"
            "  a.b: &common\n"
            "    timeout: 2\n"
            "  c.d:\n"
            "    <<: *common\n"
            "    description: copy\n",
            "c.yaml",
        )
    [finding] = caught.value.findings
    assert (finding.code, finding.line) == ("yaml", 6)
    assert "aliases (*common) are not allowed" in finding.message
